using System.Buffers;
using System.Net;
using Microsoft.AspNetCore.Connections;
using PipelineServer.Protocols;

namespace PipelineServer.Client;

/// <summary>Starts <see cref="ProtocolClient{TRequest, TResponse}"/>s.</summary>
public static class ProtocolClient
{
    /// <summary>Runs a request/response client on an established connection, which the client then owns.</summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <typeparam name="TResponse">The response type; it must own its data (see <see cref="ProtocolClient{TRequest, TResponse}"/>).</typeparam>
    /// <param name="connection">The connection.</param>
    /// <param name="reader">Parses responses (and pushed messages).</param>
    /// <param name="writer">Writes requests.</param>
    /// <param name="options">Mode, timeouts and limits.</param>
    /// <returns>The client.</returns>
    public static ProtocolClient<TRequest, TResponse> Start<TRequest, TResponse>(
        ConnectionContext connection,
        IMessageReader<TResponse> reader,
        IMessageWriter<TRequest> writer,
        ProtocolClientOptions<TRequest, TResponse>? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        options = Validate(reader, writer, options ?? new());
        return new ProtocolClient<TRequest, TResponse>(connection, reader, writer, options);
    }

    /// <summary>Connects with <paramref name="factory"/> and runs a request/response client on the new connection.</summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <typeparam name="TResponse">The response type; it must own its data.</typeparam>
    /// <param name="factory">The connection factory, for example from <see cref="ClientBuilder.Build"/>.</param>
    /// <param name="endpoint">The server.</param>
    /// <param name="reader">Parses responses.</param>
    /// <param name="writer">Writes requests.</param>
    /// <param name="options">Mode, timeouts and limits.</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    /// <returns>The client.</returns>
    public static async ValueTask<ProtocolClient<TRequest, TResponse>> ConnectAsync<TRequest, TResponse>(
        IConnectionFactory factory,
        EndPoint endpoint,
        IMessageReader<TResponse> reader,
        IMessageWriter<TRequest> writer,
        ProtocolClientOptions<TRequest, TResponse>? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(factory);
        options = Validate(reader, writer, options ?? new());
        var connection = await factory.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
        try
        {
            return new ProtocolClient<TRequest, TResponse>(connection, reader, writer, options);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // What a client is given, checked in one place for every way in (Start, ConnectAsync, ProtocolClientPool.ConnectAsync)
    // and before any connection is opened (ProtocolClientPoolTests.ThePoolRefusesTheResponseTypesASingleClientRefusesWithTheSameError).
    internal static ProtocolClientOptions<TRequest, TResponse> Validate<TRequest, TResponse>(
        IMessageReader<TResponse> reader,
        IMessageWriter<TRequest> writer,
        ProtocolClientOptions<TRequest, TResponse> options)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(options);
        if (typeof(TResponse) == typeof(ReadOnlySequence<byte>) || typeof(TResponse) == typeof(ReadOnlyMemory<byte>))
        {
            throw new ArgumentException(
                $"Responses of type {typeof(TResponse).Name} are slices of the receive buffer and cannot outlive it; map them to owned data with reader.Select(static frame => frame.ToArray()) or a decoded value.",
                nameof(reader));
        }

        options.Validate();
        return options;
    }
}
