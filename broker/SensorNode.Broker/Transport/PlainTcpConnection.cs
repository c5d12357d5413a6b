using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace SensorNode.Broker.Transport;

/// <summary>
/// What the two plain-TCP connections (<see cref="SocketConnection"/>, <see cref="Epoll.EpollConnection"/>) share:
/// they are their own transport, offer no features, and are named after their socket.
/// </summary>
internal abstract class PlainTcpConnection : ConnectionContext, IDuplexPipe
{
    private string? _id;
    private IDictionary<object, object?>? _items;

    public abstract PipeReader Input { get; }

    public abstract PipeWriter Output { get; }

    /// <summary>The socket's descriptor (handle), for the connection's name.</summary>
    protected abstract long SocketHandle { get; }

    public override string ConnectionId
    {
        get => _id ??= "tcp-" + SocketHandle.ToString(System.Globalization.CultureInfo.InvariantCulture);
        set => _id = value;
    }

    /// <summary>Plain TCP has no features to offer (no TLS certificate, no lifetime notification).</summary>
    public override IFeatureCollection Features => NoFeatures.Instance;

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport
    {
        get => this;
        set => throw new NotSupportedException("the transport of a socket connection is fixed");
    }
}
