using System.Net;
using System.Net.Sockets;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// A loopback TCP proxy between clients and the broker that injects faults: a delay per forwarded chunk, a stall
/// (stops forwarding, sockets stay open), truncation (forwards only the first bytes of the next chunk to the broker,
/// then cuts), and cuts (RST on both sides of every connection).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(TcpClient Client, TcpClient Server)> _pairs = [];
    private readonly Lock _gate = new();
    private readonly Task _accept;
    private volatile bool _stalled;
    private int _truncateNextTo = -1;

    public FaultProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        _accept = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public TimeSpan Delay { get; set; }

    public int Cuts { get; private set; }

    public bool Stalled
    {
        get => _stalled;
        set => _stalled = value;
    }

    /// <summary>The next client→broker chunk is forwarded only up to <paramref name="bytes"/> bytes, then the connection is cut.</summary>
    public void TruncateNext(int bytes) => Volatile.Write(ref _truncateNextTo, bytes);

    /// <summary>Resets every proxied connection (both directions).</summary>
    public void CutAll()
    {
        lock (_gate)
        {
            foreach ((TcpClient client, TcpClient server) in _pairs)
            {
                Reset(client);
                Reset(server);
            }

            Cuts += _pairs.Count;
            _pairs.Clear();
        }
    }

    private static void Reset(TcpClient tcp)
    {
        try
        {
            if (tcp.Client is { } socket)
            {
                socket.LingerState = new LingerOption(true, 0);
            }

            tcp.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var server = new TcpClient { NoDelay = true };
            client.NoDelay = true;
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                Reset(client);
                continue;
            }

            lock (_gate)
            {
                _pairs.Add((client, server));
            }

            _ = PumpAsync(client, server, toBroker: true);
            _ = PumpAsync(server, client, toBroker: false);
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool toBroker)
    {
        byte[] buffer = new byte[16 * 1024];
        try
        {
            NetworkStream input = from.GetStream();
            NetworkStream output = to.GetStream();
            while (true)
            {
                int read = await input.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    to.Client.Shutdown(SocketShutdown.Send);
                    return;
                }

                // Stalled: hold the bytes (bounded wait steps; the test ends the stall or cuts).
                for (int i = 0; _stalled && i < 6000; i++)
                {
                    await Task.Delay(5, _stop.Token);
                }

                if (Delay > TimeSpan.Zero)
                {
                    await Task.Delay(Delay, _stop.Token);
                }

                int cutAt = toBroker ? Interlocked.Exchange(ref _truncateNextTo, -1) : -1;
                if (cutAt >= 0)
                {
                    await output.WriteAsync(buffer.AsMemory(0, Math.Min(cutAt, read)), _stop.Token);
                    await output.FlushAsync(_stop.Token);
                    CutAll();
                    return;
                }

                await output.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            Reset(from);
            Reset(to);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        CutAll();
        try
        {
            await _accept;
        }
        catch (OperationCanceledException)
        {
        }
    }
}
