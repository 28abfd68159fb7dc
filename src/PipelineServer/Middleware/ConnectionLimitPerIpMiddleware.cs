using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using PipelineServer.Diagnostics;

namespace PipelineServer.Middleware;

// Refuses a connection at once when its remote address (IPv6: its prefix) already has the maximum open through this
// middleware. Counts live in one dictionary guarded by a lock held only for an increment or decrement, never across an
// await.
internal sealed class ConnectionLimitPerIpMiddleware(ConnectionDelegate next, int limit, int ipv6PrefixLength, ILogger logger, PipelineServerMetrics metrics, PeerFaultLog faults)
{
    public const string RejectionReason = "ip_limit";

    private readonly Dictionary<IPAddress, int> _open = [];

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var address = RemoteAddress.GroupOf(connection, ipv6PrefixLength);
        if (address is null)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        if (!TryEnter(address))
        {
            metrics.Rejected(RejectionReason);
            ConnectionCloseReason.Set(connection, RejectionReason);
            MiddlewareLog.PerIpLimitReached(logger, connection.ConnectionId, RemoteAddress.Describe(address, ipv6PrefixLength), limit);
            faults.Report(PeerFault.IpLimit);
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
            if (open >= limit)
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
