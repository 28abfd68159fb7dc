using Microsoft.AspNetCore.Connections;
using PipelineServer.Internal;
using PipelineServer.Protocols;

namespace PipelineServer;

/// <summary>Runs a protocol at the end of a connection middleware chain.</summary>
public static class ProtocolConnectionBuilderExtensions
{
    /// <summary>
    /// Ends the connection pipeline with a protocol: every connection is read with <paramref name="reader"/>, each
    /// message handed to <paramref name="handler"/>, and its responses written with <paramref name="writer"/>, flushed
    /// once per pipelined batch. Works on Kestrel's <c>ListenOptions</c> (after <c>UseHttps</c> or any other connection
    /// middleware) and on any other <see cref="IConnectionBuilder"/>.
    /// </summary>
    /// <typeparam name="TInbound">The type of messages received.</typeparam>
    /// <typeparam name="TOutbound">The type of messages sent.</typeparam>
    /// <param name="builder">The connection pipeline.</param>
    /// <param name="reader">The codec that parses inbound messages; shared by all connections.</param>
    /// <param name="writer">The codec that writes outbound messages; shared by all connections.</param>
    /// <param name="handler">The handler; one instance serves every connection of the endpoint.</param>
    /// <param name="configure">Configures limits and per-connection scopes.</param>
    /// <returns>The builder.</returns>
    public static IConnectionBuilder UseProtocol<TInbound, TOutbound>(
        this IConnectionBuilder builder,
        IMessageReader<TInbound> reader,
        IMessageWriter<TOutbound> writer,
        IMessageHandler<TInbound, TOutbound> handler,
        Action<ProtocolOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(handler);
        var options = new ProtocolOptions();
        configure?.Invoke(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxMessageSize, nameof(options.MaxMessageSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.OutputHighWaterMark, nameof(options.OutputHighWaterMark));
        if (options.MaxBufferedOutput is long maxBufferedOutput)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(maxBufferedOutput, options.OutputHighWaterMark, nameof(options.MaxBufferedOutput));
        }

        var connectionHandler = new ProtocolConnectionHandler<TInbound, TOutbound>(reader, writer, handler, options, builder.ApplicationServices);
        return builder.Use(_ => connectionHandler.OnConnectedAsync);
    }
}
