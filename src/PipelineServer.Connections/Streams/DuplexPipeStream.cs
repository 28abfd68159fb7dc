using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace PipelineServer.Streams;

// The overloads below are Stream's own, overridden with Stream's signatures.
#pragma warning disable RS0027

/// <summary>
/// A <see cref="Stream"/> over a connection's pipes: reads come from <see cref="IDuplexPipe.Input"/>, writes go to
/// <see cref="IDuplexPipe.Output"/>. Use it to run a stream-based protocol layer, such as <see cref="System.Net.Security.SslStream"/>,
/// over a connection, for example to upgrade a connection to TLS in band (STARTTLS); turn the result back into pipes
/// with <see cref="StreamDuplexPipe.Create"/>.
/// </summary>
/// <remarks>
/// Asynchronous reads and writes allocate nothing in steady state. The synchronous methods block on the asynchronous
/// ones; prefer the asynchronous API. Disposing the stream completes both pipes only when <c>completePipesOnDispose</c>
/// was set.
/// </remarks>
public sealed class DuplexPipeStream : Stream
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly bool _completePipesOnDispose;
    private int _disposed;

    /// <summary>Creates a stream over <paramref name="pipe"/>.</summary>
    /// <param name="pipe">The connection's pipes.</param>
    /// <param name="completePipesOnDispose">Whether disposing the stream completes both pipes (ends the connection's streams).</param>
    public DuplexPipeStream(IDuplexPipe pipe, bool completePipesOnDispose = false)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        _input = pipe.Input;
        _output = pipe.Output;
        _completePipesOnDispose = completePipesOnDispose;
    }

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Serve from bytes already buffered without an asynchronous state machine.
        if (_input.TryRead(out var result))
        {
            return new ValueTask<int>(Consume(result, buffer.Span));
        }

        return ReadSlowAsync(buffer, cancellationToken);
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc />
    public override int Read(Span<byte> buffer)
    {
        var rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            var read = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var result = await _output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted)
        {
            throw new IOException("The connection is closed; the peer no longer reads.");
        }
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override async Task FlushAsync(CancellationToken cancellationToken) =>
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0 && _completePipesOnDispose)
        {
            _input.Complete();
            _output.Complete();
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _completePipesOnDispose)
        {
            await _input.CompleteAsync().ConfigureAwait(false);
            await _output.CompleteAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadSlowAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.IsCanceled)
            {
                _input.AdvanceTo(result.Buffer.Start);
                throw new OperationCanceledException("The read was cancelled.");
            }

            if (!result.Buffer.IsEmpty || result.IsCompleted || buffer.IsEmpty)
            {
                return Consume(result, buffer.Span);
            }

            _input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private int Consume(in ReadResult result, Span<byte> destination)
    {
        var source = result.Buffer;
        var count = (int)Math.Min(source.Length, destination.Length);
        var used = source.Slice(0, count);
        used.CopyTo(destination);
        _input.AdvanceTo(used.End);
        return count;
    }
}
