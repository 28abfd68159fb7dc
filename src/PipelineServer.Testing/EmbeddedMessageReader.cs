using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using PipelineServer.Protocols;

namespace PipelineServer.Testing;

/// <summary>
/// Drives an <see cref="IMessageReader{TMessage}"/> the way a connection does: bytes written with
/// <see cref="WriteInbound"/> go through a real <see cref="Pipe"/> and <see cref="ProtocolReader"/>, with its size
/// limit and end-of-stream checks, and parsed messages come out of <see cref="TryRead{TResult}"/>.
/// </summary>
/// <typeparam name="TMessage">The message type.</typeparam>
/// <remarks>
/// A message may be a slice of the pipe's memory, valid only until the reader advances, so every read takes a
/// <c>copy</c> function that turns the message into something that outlives it (for frames,
/// <c>static frame =&gt; frame.ToArray()</c>). The pipe's memory comes from a <see cref="TestMemoryPool"/>; with a
/// small block size the codec sees many-segment buffers.
/// </remarks>
public sealed class EmbeddedMessageReader<TMessage> : IDisposable
{
    private readonly Pipe _pipe;
    private readonly ProtocolReader _reader;
    private readonly CountingReader _codec;

    /// <summary>Creates the harness.</summary>
    /// <param name="reader">The codec under test.</param>
    /// <param name="maxMessageSize">The protocol reader's limit.</param>
    /// <param name="blockSize">The size of the pipe's memory blocks; small values give many-segment buffers.</param>
    public EmbeddedMessageReader(IMessageReader<TMessage> reader, int maxMessageSize = ProtocolDefaults.MaxMessageSize, int blockSize = 4096)
    {
        ArgumentNullException.ThrowIfNull(reader);
        Pool = new TestMemoryPool(blockSize);
        _pipe = new Pipe(new PipeOptions(
            pool: Pool,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0,
            minimumSegmentSize: 1,
            useSynchronizationContext: false));
        _codec = new CountingReader(reader);
        _reader = new ProtocolReader(_pipe.Reader, maxMessageSize);
    }

    /// <summary>The pool behind the pipe, to check for leaked blocks.</summary>
    public TestMemoryPool Pool { get; }

    /// <summary>How many times the codec has been asked to parse: a partial message must not be parsed again until new bytes arrive.</summary>
    public int ParseAttempts => _codec.Calls;

    /// <summary><see langword="true"/> once the inbound stream has ended cleanly and every message has been read.</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>Appends bytes to the inbound stream, as one arrival from the network.</summary>
    /// <param name="bytes">The bytes.</param>
    public void WriteInbound(ReadOnlySpan<byte> bytes)
    {
        _pipe.Writer.Write(bytes);
        var flush = _pipe.Writer.FlushAsync();
        if (!flush.IsCompleted)
        {
            throw new InvalidOperationException("The pipe unexpectedly applied backpressure.");
        }

        flush.GetAwaiter().GetResult();
    }

    /// <summary>Ends the inbound stream, as the peer closing its side of the connection.</summary>
    public void CompleteInbound() => _pipe.Writer.Complete();

    /// <summary>Reads the next message if the bytes written so far hold one.</summary>
    /// <typeparam name="TResult">What the message is copied into.</typeparam>
    /// <param name="copy">Copies what the test needs out of the message, before its buffers are released.</param>
    /// <param name="result">The copy.</param>
    /// <returns><see langword="false"/> when more bytes are needed, or when the stream has ended.</returns>
    /// <exception cref="ProtocolException">The codec or the protocol reader rejected the input.</exception>
    public bool TryRead<TResult>(Func<TMessage, TResult> copy, [MaybeNullWhen(false)] out TResult result)
    {
        ArgumentNullException.ThrowIfNull(copy);
        while (_reader.TryRead(_codec, out var read))
        {
            if (read.HasMessage)
            {
                try
                {
                    result = copy(read.Message);
                }
                finally
                {
                    _reader.Advance();
                }

                return true;
            }

            if (read.IsCompleted)
            {
                IsCompleted = true;
                break;
            }
        }

        result = default;
        return false;
    }

    /// <summary>Reads every message the bytes written so far hold.</summary>
    /// <typeparam name="TResult">What each message is copied into.</typeparam>
    /// <param name="copy">Copies what the test needs out of a message.</param>
    /// <returns>The copies, in order.</returns>
    /// <exception cref="ProtocolException">The codec or the protocol reader rejected the input.</exception>
    public List<TResult> ReadAll<TResult>(Func<TMessage, TResult> copy)
    {
        var results = new List<TResult>();
        while (TryRead(copy, out var result))
        {
            results.Add(result);
        }

        return results;
    }

    /// <summary>Completes both ends of the pipe, returning its memory to the pool.</summary>
    public void Dispose()
    {
        _pipe.Writer.Complete();
        _pipe.Reader.Complete();
    }

    private sealed class CountingReader(IMessageReader<TMessage> inner) : IMessageReader<TMessage>
    {
        public int Calls { get; private set; }

        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref SequencePosition consumed, ref SequencePosition examined, [MaybeNullWhen(false)] out TMessage message)
        {
            Calls++;
            return inner.TryParseMessage(input, ref consumed, ref examined, out message);
        }

        // Forwarded, so that the codec under test runs with its per-connection state as it does on a connection.
        public bool TryParseMessage(in ReadOnlySequence<byte> input, ref MessageReaderState state, ref SequencePosition consumed, ref SequencePosition examined, [MaybeNullWhen(false)] out TMessage message)
        {
            Calls++;
            return inner.TryParseMessage(input, ref state, ref consumed, ref examined, out message);
        }
    }
}
