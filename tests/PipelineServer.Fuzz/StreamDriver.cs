using System.IO.Pipelines;
using PipelineServer.Protocols;
using PipelineServer.Testing;

namespace PipelineServer.Fuzz;

/// <summary>
/// Feeds a stream through a real <see cref="Pipe"/> into <see cref="ProtocolReader"/>, the way a connection does, and
/// checks the reader's promises on the way: it makes progress, never waits once the stream has ended, and returns every
/// pipe block. Everything runs inline on the calling thread, so a run is deterministic.
/// </summary>
public static class StreamDriver
{
    /// <summary>Reads <paramref name="stream"/> to its end with <paramref name="codec"/>.</summary>
    /// <typeparam name="TMessage">The codec's message type.</typeparam>
    /// <param name="codec">The parser under test.</param>
    /// <param name="stream">The bytes the peer sends.</param>
    /// <param name="segmentation">How they arrive.</param>
    /// <param name="maxMessageSize">The protocol reader's limit.</param>
    /// <param name="fingerprint">Checks a message and copies what identifies it, before its buffer is released.</param>
    /// <returns>The messages and how the stream ended.</returns>
    /// <exception cref="FuzzFailureException">The reader broke a promise.</exception>
    public static ReadOutcome Read<TMessage>(
        IMessageReader<TMessage> codec,
        ReadOnlySpan<byte> stream,
        Segmentation segmentation,
        int maxMessageSize,
        Func<TMessage, byte[]> fingerprint)
    {
        var pool = new TestMemoryPool(segmentation.BlockSize);
        var pipe = new Pipe(new PipeOptions(
            pool: pool,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0,
            minimumSegmentSize: 1,
            useSynchronizationContext: false));
        var reader = new ProtocolReader(pipe.Reader, maxMessageSize);
        var outcome = new ReadOutcome();
        try
        {
            var offset = 0;
            foreach (var size in segmentation.ChunkSizes(stream.Length))
            {
                pipe.Writer.Write(stream.Slice(offset, size));
                offset += size;
                var flush = pipe.Writer.FlushAsync();
                if (!flush.IsCompleted)
                {
                    throw new FuzzFailureException("The pipe applied backpressure although it was configured not to.");
                }

                flush.GetAwaiter().GetResult();

                // One arrival: take every message it completes, as the connection loop does before flushing replies.
                while (reader.TryRead(codec, out var result))
                {
                    if (!result.HasMessage)
                    {
                        throw new FuzzFailureException($"TryRead returned a result without a message before the stream ended (completed: {result.IsCompleted}, canceled: {result.IsCanceled}).");
                    }

                    Take(reader, result.Message, outcome, fingerprint, stream.Length);
                }
            }

            pipe.Writer.Complete();
            while (true)
            {
                var read = reader.ReadAsync(codec);
                if (!read.IsCompleted)
                {
                    throw new FuzzFailureException("ReadAsync waited for data after the stream had ended: the reader made no progress.");
                }

                var result = read.Result;
                if (result.IsCompleted)
                {
                    break;
                }

                if (!result.HasMessage)
                {
                    throw new FuzzFailureException("ReadAsync returned neither a message nor the end of the stream.");
                }

                Take(reader, result.Message, outcome, fingerprint, stream.Length);
            }
        }
        catch (ProtocolException error)
        {
            outcome.Error = error;
        }
        finally
        {
            pipe.Reader.Complete();
            pipe.Writer.Complete();
        }

        if (pool.OutstandingBlocks != 0)
        {
            throw new FuzzFailureException($"{pool.OutstandingBlocks} pipe blocks were not returned to the pool.");
        }

        return outcome;
    }

    private static void Take<TMessage>(ProtocolReader reader, TMessage message, ReadOutcome outcome, Func<TMessage, byte[]> fingerprint, int streamLength)
    {
        outcome.Messages.Add(fingerprint(message));
        reader.Advance();

        // Every message consumes at least one byte, so a stream of n bytes holds at most n messages.
        if (outcome.Messages.Count > streamLength)
        {
            throw new FuzzFailureException($"{outcome.Messages.Count} messages from {streamLength} bytes: the reader returns messages without consuming input.");
        }
    }
}
