using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace PipelineServer.Protocols;

/// <summary>Composes message readers.</summary>
public static class MessageReaderExtensions
{
    /// <summary>
    /// Maps each message as it is parsed, while its buffers are still valid: the way to turn slices of the receive
    /// buffer into messages that own their data (<c>reader.Select(static frame =&gt; frame.ToArray())</c>), or to decode
    /// a frame into a value type without copying it.
    /// </summary>
    /// <typeparam name="TSource">The parsed message type.</typeparam>
    /// <typeparam name="TResult">The mapped message type.</typeparam>
    /// <param name="reader">The reader.</param>
    /// <param name="selector">The mapping; pass a static lambda to keep parsing allocation-free.</param>
    /// <returns>A reader of mapped messages.</returns>
    public static IMessageReader<TResult> Select<TSource, TResult>(this IMessageReader<TSource> reader, Func<TSource, TResult> selector)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(selector);
        return new SelectReader<TSource, TResult>(reader, selector);
    }

    private sealed class SelectReader<TSource, TResult>(IMessageReader<TSource> reader, Func<TSource, TResult> selector) : IMessageReader<TResult>
    {
        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, [MaybeNullWhen(false)] out TResult message)
        {
            if (reader.TryParseMessage(input, ref consumed, ref examined, out var source))
            {
                message = selector(source);
                return true;
            }

            message = default;
            return false;
        }

        // Forwarded, so that mapping a stateful reader keeps it resumable.
        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, [MaybeNullWhen(false)] out TResult message)
        {
            if (reader.TryParseMessage(input, ref state, ref consumed, ref examined, out var source))
            {
                message = selector(source);
                return true;
            }

            message = default;
            return false;
        }
    }
}
