using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using PipelineServer.Internal;

namespace PipelineServer.Middleware;

// Logs the bytes a connection receives (as the protocol consumes them) and sends (as they are written), as hex and
// ASCII, at Debug in the PipelineServer.HexDump category, up to a cap per direction per connection. For debugging:
// it formats strings per read and write, so keep it off in production.
internal sealed class HexDumpMiddleware(ConnectionDelegate next, int maxBytes, ILogger logger)
{
    public const string CategoryName = "PipelineServer.HexDump";

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        if (!logger.IsEnabled(LogLevel.Debug))
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var transport = connection.Transport;
        var budget = new Budget(connection.ConnectionId, maxBytes, logger);
        connection.Transport = new DuplexPipe(new DumpingReader(transport.Input, budget), new DumpingWriter(transport.Output, budget));
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            connection.Transport = transport;
        }
    }

    internal static string Format(ReadOnlySequence<byte> bytes)
    {
        var text = new StringBuilder();
        Span<byte> line = stackalloc byte[16];
        long offset = 0;
        while (!bytes.IsEmpty)
        {
            var count = (int)Math.Min(16, bytes.Length);
            bytes.Slice(0, count).CopyTo(line);
            bytes = bytes.Slice(count);
            text.Append(offset.ToString("X4", System.Globalization.CultureInfo.InvariantCulture)).Append("  ");
            for (var i = 0; i < 16; i++)
            {
                text.Append(i < count ? line[i].ToString("X2", System.Globalization.CultureInfo.InvariantCulture) : "  ").Append(i == 7 ? "  " : " ");
            }

            text.Append(" |");
            for (var i = 0; i < count; i++)
            {
                text.Append(line[i] is >= 0x20 and < 0x7F ? (char)line[i] : '.');
            }

            text.Append('|');
            offset += count;
            if (!bytes.IsEmpty)
            {
                text.Append('\n');
            }
        }

        return text.ToString();
    }

    private sealed class Budget(string connectionId, int maxBytes, ILogger logger)
    {
        private int _received;
        private int _sent;

        public void Dump(bool inbound, ReadOnlySequence<byte> bytes)
        {
            if (bytes.IsEmpty)
            {
                return;
            }

            ref var used = ref inbound ? ref _received : ref _sent;
            var left = maxBytes - used;
            if (left <= 0)
            {
                return;
            }

            var shown = (int)Math.Min(left, bytes.Length);
            used += shown;
            var truncated = shown < bytes.Length ? $" (showing {shown}; the {maxBytes}-byte cap for this direction is reached)" : string.Empty;
            MiddlewareLog.HexDump(logger, connectionId, inbound ? "received" : "sent", (int)Math.Min(int.MaxValue, bytes.Length), truncated, Format(bytes.Slice(0, shown)));
        }
    }

    private sealed class DumpingReader(PipeReader inner, Budget budget) : PipeReader
    {
        private ReadOnlySequence<byte> _buffer;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            _buffer = result.Buffer;
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (inner.TryRead(out result))
            {
                _buffer = result.Buffer;
                return true;
            }

            return false;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            budget.Dump(inbound: true, _buffer.Slice(_buffer.Start, consumed));
            _buffer = default;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }

    private sealed class DumpingWriter(PipeWriter inner, Budget budget) : PipeWriter
    {
        private Memory<byte> _memory;

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public override void Advance(int bytes)
        {
            budget.Dump(inbound: false, new ReadOnlySequence<byte>(_memory[..bytes]));
            inner.Advance(bytes);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => _memory = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => (_memory = inner.GetMemory(sizeHint)).Span;

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
