using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Resp;

/// <summary>Runs RESP on a connection pipeline.</summary>
public static class RespConnectionBuilderExtensions
{
    /// <summary>
    /// Ends the connection pipeline with RESP: commands are read with <see cref="RespCommandReader"/> under
    /// <paramref name="limits"/> and dispatched by <paramref name="dispatcher"/>; replies to a pipelined batch go out in
    /// one flush. A protocol error is answered with <c>-ERR Protocol error: ...</c> and closes that connection.
    /// </summary>
    /// <param name="builder">The connection pipeline (Kestrel's <c>ListenOptions</c>).</param>
    /// <param name="dispatcher">The commands.</param>
    /// <param name="limits">The limits; <see cref="RespLimits.Default"/> when <see langword="null"/>.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseResp(this IConnectionBuilder builder, RespCommandDispatcher dispatcher, RespLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(dispatcher);
        var reader = new RespCommandReader(limits);

        // The protocol reader's bound on buffered bytes must admit the largest legal command: one maximum bulk string
        // plus headers (capped at what an int can say).
        var maxMessage = (int)Math.Min(int.MaxValue, reader.Limits.MaxBulkLength + Math.Max(reader.Limits.MaxInlineLength, 64 * 1024));
        return builder.UseProtocol(reader, RespValueWriter.Instance, dispatcher, options => options.MaxMessageSize = maxMessage);
    }
}
