using System.Buffers;
using System.IO.Pipelines;
using PipelineServer.Protocols;

namespace PipelineServer.Testing;

/// <summary>
/// Receives from the reading side of any connection (in memory, a socket wrapped in a pipe, a TLS stream) in the
/// shapes tests need: exactly N bytes, one message, or everything until the peer closes.
/// </summary>
public static class PipeReaderTestExtensions
{
    /// <summary>Receives exactly <paramref name="count"/> bytes.</summary>
    /// <param name="input">The reading side of a connection.</param>
    /// <param name="count">How many bytes.</param>
    /// <param name="cancellationToken">Cancels the receive; pass one with a timeout.</param>
    /// <returns>The bytes.</returns>
    /// <exception cref="EndOfStreamException">The peer closed the connection first.</exception>
    public static async ValueTask<byte[]> ReceiveExactlyAsync(this PipeReader input, int count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length >= count)
            {
                var bytes = buffer.Slice(0, count).ToArray();
                input.AdvanceTo(buffer.GetPosition(count));
                return bytes;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException($"The peer closed the connection after {buffer.Length} of the {count} bytes expected.");
            }
        }
    }

    /// <summary>Receives one message, parsed with <paramref name="reader"/> and copied with <paramref name="copy"/>.</summary>
    /// <typeparam name="TMessage">The message type.</typeparam>
    /// <typeparam name="TResult">What the message is copied into.</typeparam>
    /// <param name="input">The reading side of a connection.</param>
    /// <param name="reader">The codec.</param>
    /// <param name="copy">Copies what the test needs out of the message, before its buffer is released.</param>
    /// <param name="cancellationToken">Cancels the receive; pass one with a timeout.</param>
    /// <returns>The copy.</returns>
    /// <exception cref="EndOfStreamException">The peer closed the connection before a whole message arrived.</exception>
    public static async ValueTask<TResult> ReceiveMessageAsync<TMessage, TResult>(this PipeReader input, IMessageReader<TMessage> reader, Func<TMessage, TResult> copy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(copy);

        // The codec's progress through the message, as ProtocolReader keeps it, so a large one costs each read only its
        // new bytes.
        var state = default(MessageReaderState);
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            if (!buffer.IsEmpty && reader.TryParseMessage(buffer, ref state, ref consumed, ref examined, out var message))
            {
                TResult copied;
                try
                {
                    copied = copy(message);
                }
                finally
                {
                    input.AdvanceTo(consumed);
                }

                return copied;
            }

            if (!consumed.Equals(buffer.Start))
            {
                state.Reset();
            }

            input.AdvanceTo(consumed, examined);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException($"The peer closed the connection with {buffer.Slice(consumed).Length} bytes of an incomplete message buffered.");
            }
        }
    }

    /// <summary>Receives everything until the peer ends the stream.</summary>
    /// <param name="input">The reading side of a connection.</param>
    /// <param name="cancellationToken">Cancels the receive; pass one with a timeout.</param>
    /// <returns>The bytes.</returns>
    public static async ValueTask<byte[]> ReceiveToEndAsync(this PipeReader input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCompleted)
            {
                var bytes = result.Buffer.ToArray();
                input.AdvanceTo(result.Buffer.End);
                return bytes;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
