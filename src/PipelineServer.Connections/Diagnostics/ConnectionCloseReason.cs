using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Diagnostics;

// Why connection middleware ended a connection (a timeout, a rate limit), recorded before it aborts the connection so
// that the protocol loop's "closed" metric and log carry the reason rather than a bare abort.
internal sealed class ConnectionCloseReason
{
    public const string Clean = "clean";
    public const string ProtocolError = "protocol_error";
    public const string HandlerError = "handler_error";
    public const string Reset = "reset";
    public const string Shutdown = "shutdown";
    public const string IdleTimeout = "idle_timeout";
    public const string FirstMessageTimeout = "first_message_timeout";
    public const string SlowMessageTimeout = "slow_message_timeout";
    public const string WriteTimeout = "write_timeout";
    public const string RateLimit = "rate_limit";
    public const string OutputOverflow = "output_overflow";
    public const string TransportError = "transport_error";

    private ConnectionCloseReason(string reason) => Reason = reason;

    public string Reason { get; }

    public static void Set(ConnectionContext connection, string reason) =>
        connection.Features.Set(new ConnectionCloseReason(reason));

    public static string? Get(ConnectionContext connection) =>
        connection.Features.Get<ConnectionCloseReason>()?.Reason;
}
