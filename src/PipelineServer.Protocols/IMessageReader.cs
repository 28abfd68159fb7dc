using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace PipelineServer.Protocols;

/// <summary>
/// Parses one message of type <typeparamref name="TMessage"/> from the front of a byte sequence.
/// </summary>
/// <typeparam name="TMessage">The message type.</typeparam>
/// <remarks>
/// <para>
/// A reader is a pure function over its input: it does no I/O, keeps no per-connection state and may be shared by
/// every connection of a server. It must return the same messages however the byte stream is split into segments.
/// </para>
/// <para>
/// A reader whose work on an incomplete message would otherwise grow with the bytes already buffered (one that walks
/// a message element by element, or scans for a delimiter) also implements the overload that takes a
/// <see cref="MessageReaderState"/>: the caller keeps that state per stream, so the reader resumes where it stopped
/// and each arrival of bytes costs only the new ones. <see cref="ProtocolReader"/> always calls that overload; by
/// default it forwards to the stateless one.
/// </para>
/// <para>
/// A message may refer to the input's memory (for example a <see cref="ReadOnlySequence{T}"/> slice). Such a message
/// is valid only until the caller advances past it; see <see cref="ProtocolReader"/> for the lifetime rule.
/// </para>
/// </remarks>
public interface IMessageReader<TMessage>
{
    /// <summary>Tries to parse one message from the start of <paramref name="input"/>.</summary>
    /// <param name="input">The buffered, unconsumed bytes.</param>
    /// <param name="consumed">
    /// On entry, <c>input.Start</c>. On success, set it to the position just after the message. A reader may also move it
    /// without producing a message, to skip bytes it has dealt with.
    /// </param>
    /// <param name="examined">
    /// On entry, <c>input.End</c>. The position up to which the reader has looked. When more data is needed, leave it at
    /// the end of the input so that the caller waits for new bytes instead of calling again with the same ones.
    /// </param>
    /// <param name="message">The parsed message, when the method returns <see langword="true"/>.</param>
    /// <returns><see langword="true"/> when a whole message was parsed; <see langword="false"/> when more bytes are needed.</returns>
    /// <exception cref="ProtocolException">The input violates the protocol (for example a declared length over the limit).</exception>
    bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, [MaybeNullWhen(false)] out TMessage message);

    /// <summary>
    /// Tries to parse one message from the start of <paramref name="input"/>, resuming from what this reader noted in
    /// <paramref name="state"/> on earlier calls for the same message.
    /// </summary>
    /// <param name="input">
    /// The buffered, unconsumed bytes: those of the earlier calls since the state was last reset, and any new ones
    /// after them.
    /// </param>
    /// <param name="state">
    /// The stream's parse state: <see langword="default"/> or reset for a new message. The reader may update it when it
    /// returns <see langword="false"/>; the caller resets it when <paramref name="consumed"/> moves or the reader throws.
    /// </param>
    /// <param name="consumed">As in the stateless overload.</param>
    /// <param name="examined">As in the stateless overload.</param>
    /// <param name="message">The parsed message, when the method returns <see langword="true"/>.</param>
    /// <returns><see langword="true"/> when a whole message was parsed; <see langword="false"/> when more bytes are needed.</returns>
    /// <exception cref="ProtocolException">The input violates the protocol.</exception>
    bool TryParseMessage(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, [MaybeNullWhen(false)] out TMessage message) =>
        TryParseMessage(input, ref consumed, ref examined, out message);
}
