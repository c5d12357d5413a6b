using System.Net;
using System.Net.Sockets;

namespace SensorNode.Firmware.Tests.EndToEnd;

/// <summary>
/// A TCP relay between nodes and the broker, so a test can cut a node's connection the way a Wi-Fi drop does:
/// the sockets close without an MQTT DISCONNECT and the broker must publish the Last Will.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly List<(TcpClient Inbound, TcpClient Outbound)> _pairs = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public TcpRelay(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _acceptLoop = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public int Accepted { get; private set; }

    /// <summary>Closes every relayed connection abruptly (no DISCONNECT reaches the broker).</summary>
    public void CutAll()
    {
        lock (_pairs)
        {
            foreach ((TcpClient inbound, TcpClient outbound) in _pairs)
            {
                Reset(inbound);
                Reset(outbound);
            }

            _pairs.Clear();
        }
    }

    /// <summary>Closes with RST (linger 0) so the peer sees an error, not an orderly end.</summary>
    private static void Reset(TcpClient client)
    {
        try
        {
            client.Client?.Close(0);
        }
        catch (ObjectDisposedException)
        {
            // The pump already closed it.
        }

        client.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }

            lock (_pairs)
            {
                _pairs.Add((inbound, outbound));
                Accepted++;
            }

            _ = PumpAsync(inbound, outbound);
            _ = PumpAsync(outbound, inbound);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to)
    {
        byte[] buffer = new byte[8192];
        try
        {
            NetworkStream source = from.GetStream();
            NetworkStream target = to.GetStream();
            int read;
            while ((read = await source.ReadAsync(buffer)) > 0)
            {
                await target.WriteAsync(buffer.AsMemory(0, read));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or SocketException)
        {
            // The other side went away or the test cut the link.
        }

        from.Dispose();
        to.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        CutAll();
        await _acceptLoop;
        _stop.Dispose();
    }
}
