using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using PipelineServer.Diagnostics;

namespace PipelineServer.Middleware;

// Refuses a connection at once when its remote address (IPv6: its prefix) already has the maximum open through this
// middleware. Counts live in one dictionary guarded by a lock held only for an increment or decrement, never across an
// await.
internal sealed class ConnectionLimitPerIpMiddleware(ConnectionDelegate next, ConnectionLimitPerIpOptions options, ILogger logger, PipelineServerMetrics metrics, PeerFaultLog faults)
{
    public const string RejectionReason = "ip_limit";

    private readonly Dictionary<IPAddress, int> _open = [];
    private readonly int _limit = options.Limit;
    private readonly int _ipv6PrefixLength = options.IPv6PrefixLength;
    private readonly ReadOnlyMemory<byte> _refusal = options.RefusalMessage;

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var address = RemoteAddress.GroupOf(connection, _ipv6PrefixLength);
        if (address is null)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        if (!TryEnter(address))
        {
            metrics.Rejected(RejectionReason);
            ConnectionCloseReason.Set(connection, RejectionReason);
            MiddlewareLog.PerIpLimitReached(logger, connection.ConnectionId, RemoteAddress.Describe(address, _ipv6PrefixLength), _limit);
            faults.Report(PeerFault.IpLimit);
            if (!_refusal.IsEmpty)
            {
                await RefuseAsync(connection).ConfigureAwait(false);
            }

            return; // Kestrel closes the connection once the chain returns.
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            Leave(address);
        }
    }

    // The refusal in the protocol's words, then the close. A few bytes into an empty pipe: the flush completes at once
    // unless the transport has failed, and a peer that is gone is no concern of ours.
    private async Task RefuseAsync(ConnectionContext connection)
    {
        try
        {
            await connection.Transport.Output.WriteAsync(_refusal, connection.ConnectionClosed).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
        }
    }

    internal int OpenFrom(IPAddress address)
    {
        lock (_open)
        {
            return _open.GetValueOrDefault(address);
        }
    }

    private bool TryEnter(IPAddress address)
    {
        lock (_open)
        {
            var open = _open.GetValueOrDefault(address);
            if (open >= _limit)
            {
                return false;
            }

            _open[address] = open + 1;
            return true;
        }
    }

    private void Leave(IPAddress address)
    {
        lock (_open)
        {
            var open = _open[address] - 1;
            if (open == 0)
            {
                _open.Remove(address);
            }
            else
            {
                _open[address] = open;
            }
        }
    }
}
