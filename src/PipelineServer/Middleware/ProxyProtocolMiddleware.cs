using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using PipelineServer.Diagnostics;

namespace PipelineServer.Middleware;

// Reads a PROXY protocol header from the front of the stream and replaces the connection's endpoints with the ones it
// names, so everything after this middleware (limits, logs, handlers) sees the real client. Runs before TLS: the
// header precedes the handshake on the wire.
internal sealed class ProxyProtocolMiddleware(ConnectionDelegate next, ProxyProtocolOptions options, TimeProvider time, ILogger logger, PipelineServerMetrics metrics, PeerFaultLog faults)
{
    public const string RejectionReason = "proxy_protocol";

    private readonly IPNetwork[] _trusted = [.. options.TrustedNetworks];

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        if (options.Mode == ProxyProtocolMode.Off)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        if (!IsTrusted(RemoteAddress.Of(connection)))
        {
            if (options.Mode == ProxyProtocolMode.Required)
            {
                metrics.Rejected(RejectionReason);
                ConnectionCloseReason.Set(connection, RejectionReason);
                MiddlewareLog.ProxyUntrustedPeer(logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString());
                faults.Report(PeerFault.ProxyProtocol);
                return;
            }

            await next(connection).ConfigureAwait(false);
            return;
        }

        var error = await ReadHeaderAsync(connection).ConfigureAwait(false);
        if (error is not null)
        {
            metrics.Rejected(RejectionReason);
            ConnectionCloseReason.Set(connection, RejectionReason);
            MiddlewareLog.ProxyHeaderRejected(logger, connection.ConnectionId, connection.RemoteEndPoint?.ToString(), error);
            faults.Report(PeerFault.ProxyProtocol);
            return;
        }

        await next(connection).ConfigureAwait(false);
    }

    private bool IsTrusted(IPAddress? address)
    {
        if (address is null)
        {
            return false;
        }

        foreach (var network in _trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    // Returns null when the connection may go on (header applied, or absent in Optional mode), else why it may not.
    private async Task<string?> ReadHeaderAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        using var timeout = new CancellationTokenSource(options.HeaderTimeout, time);
        using var closed = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, connection.ConnectionClosed);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(closed.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                return $"no complete header within {options.HeaderTimeout}";
            }
            catch (OperationCanceledException)
            {
                return "the connection closed before its header";
            }

            var buffer = result.Buffer;
            var status = ProxyProtocolParser.TryParse(buffer, out var header, out var error);
            switch (status)
            {
                case ProxyParseStatus.Parsed:
                    input.AdvanceTo(buffer.GetPosition(header.Length));
                    if (header.Source is not null)
                    {
                        var proxy = connection.RemoteEndPoint;
                        connection.RemoteEndPoint = header.Source;
                        connection.LocalEndPoint = header.Destination;
                        MiddlewareLog.ProxyHeaderAccepted(logger, connection.ConnectionId, header.Source.ToString(), proxy?.ToString());
                    }

                    return null;

                case ProxyParseStatus.NotProxyProtocol when options.Mode == ProxyProtocolMode.Optional:
                    // Leave every byte for the protocol, and let its next read return them at once.
                    input.AdvanceTo(buffer.Start, buffer.Start);
                    return null;

                case ProxyParseStatus.NotProxyProtocol:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    return "the connection did not start with one";

                case ProxyParseStatus.Invalid:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    return error;

                default:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        return "the stream ended inside the header";
                    }

                    break;
            }
        }
    }
}
