using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using PipelineServer.Protocols;

namespace PipelineServer.Testing;

/// <summary>
/// The client end of a connection to an <see cref="EmbeddedServer"/>: send bytes or messages to the chain under test,
/// receive what it writes back, and close, reset or shut it down the way a real peer or host would.
/// </summary>
/// <remarks>Every receive fails with <see cref="TimeoutException"/> after the server's receive timeout, so a broken test fails instead of hanging.</remarks>
public sealed class EmbeddedConnection : IAsyncDisposable
{
    private readonly ConnectionContext _client;
    private readonly IConnectionLifetimeNotificationFeature _lifetime;
    private readonly TimeSpan _receiveTimeout;
    private Task? _completion;

    internal EmbeddedConnection(ConnectionContext client, ConnectionContext server, IConnectionLifetimeNotificationFeature lifetime, TimeSpan receiveTimeout)
    {
        _client = client;
        ServerConnection = server;
        _lifetime = lifetime;
        _receiveTimeout = receiveTimeout;
    }

    /// <summary>The server end, as the chain sees it (features, items, endpoints).</summary>
    public ConnectionContext ServerConnection { get; }

    /// <summary>
    /// Completes when the chain has returned for this connection; faults if the chain threw (Kestrel would log and
    /// close the connection).
    /// </summary>
    public Task Completion => _completion ?? Task.CompletedTask;

    /// <summary>Sends bytes to the server, as one write.</summary>
    /// <param name="bytes">The bytes.</param>
    /// <param name="cancellationToken">Cancels the wait for the server to accept them.</param>
    /// <returns>A task that completes when the transport has accepted the bytes.</returns>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default) =>
        await _client.Transport.Output.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);

    /// <summary>Sends messages to the server with a codec, in one write.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <param name="writer">The codec.</param>
    /// <param name="messages">The messages.</param>
    /// <returns>A task that completes when the transport has accepted the bytes.</returns>
    public async ValueTask SendMessagesAsync<TMessage>(IMessageWriter<TMessage> writer, params TMessage[] messages)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var message in messages)
        {
            writer.WriteMessage(message, _client.Transport.Output);
        }

        await _client.Transport.Output.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Ends the client's side of the stream (a half-close, like a FIN); the server can still answer.</summary>
    /// <returns>A task that completes when the end of stream is queued.</returns>
    public ValueTask CompleteSendingAsync() => _client.Transport.Output.CompleteAsync();

    /// <summary>Receives exactly <paramref name="count"/> bytes.</summary>
    /// <param name="count">How many bytes.</param>
    /// <param name="cancellationToken">Cancels the receive.</param>
    /// <returns>The bytes.</returns>
    /// <exception cref="EndOfStreamException">The server closed the connection first.</exception>
    /// <exception cref="TimeoutException">Nothing arrived within the server's receive timeout.</exception>
    public ValueTask<byte[]> ReceiveExactlyAsync(int count, CancellationToken cancellationToken = default) =>
        WithTimeout(static (input, count, _, token) => input.ReceiveExactlyAsync(count, token), count, 0, cancellationToken);

    /// <summary>Receives one message, parsed with <paramref name="reader"/> and copied with <paramref name="copy"/>.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <typeparam name="TResult">What the message is copied into.</typeparam>
    /// <param name="reader">The codec.</param>
    /// <param name="copy">Copies what the test needs out of the message, before its buffer is released.</param>
    /// <param name="cancellationToken">Cancels the receive.</param>
    /// <returns>The copy.</returns>
    /// <exception cref="EndOfStreamException">The server closed the connection before a whole message arrived.</exception>
    /// <exception cref="TimeoutException">Nothing arrived within the server's receive timeout.</exception>
    public ValueTask<TResult> ReceiveMessageAsync<TMessage, TResult>(IMessageReader<TMessage> reader, Func<TMessage, TResult> copy, CancellationToken cancellationToken = default) =>
        WithTimeout(static (input, reader, copy, token) => input.ReceiveMessageAsync(reader, copy, token), reader, copy, cancellationToken);

    /// <summary>Receives everything the server sends until it closes the connection.</summary>
    /// <param name="cancellationToken">Cancels the receive.</param>
    /// <returns>The bytes.</returns>
    /// <exception cref="TimeoutException">The server did not close the connection within the receive timeout.</exception>
    public ValueTask<byte[]> ReceiveToEndAsync(CancellationToken cancellationToken = default) =>
        WithTimeout(static (input, _, _, token) => input.ReceiveToEndAsync(token), 0, 0, cancellationToken);

    /// <summary>Asks the server end to close gracefully, as a host does on shutdown.</summary>
    public void RequestClose() => _lifetime.RequestClose();

    /// <summary>Resets the connection from the client side: the server's reads fail with <see cref="ConnectionResetException"/>.</summary>
    public void Reset() => _client.Abort(new ConnectionAbortedException("The test reset the connection."));

    /// <summary>Closes the client end.</summary>
    /// <returns>A task that completes when the client end is closed.</returns>
    public ValueTask DisposeAsync() => _client.DisposeAsync();

    internal void Start(Task completion) => _completion = completion;

    private async ValueTask<TResult> WithTimeout<TArg1, TArg2, TResult>(
        Func<PipeReader, TArg1, TArg2, CancellationToken, ValueTask<TResult>> receive,
        TArg1 arg1,
        TArg2 arg2,
        CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_receiveTimeout);
        try
        {
            return await receive(_client.Transport.Input, arg1, arg2, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Nothing (or not enough) was received within {_receiveTimeout.TotalSeconds:0.#} s.");
        }
    }
}
