using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace PipelineServer.Transports.Memory;

// Two connection ends joined by two pumps, one per direction. Each pump owns the reader of one end's Output pipe and
// the writer of the other end's Input pipe, so every pipe end has exactly one owner and no lock is needed around them.
// The pumps copy, as a kernel does between sockets; that keeps backpressure, half-close and reset semantics realistic.
internal sealed class MemoryConnectionPair
{
    private readonly Lock _sync = new();
    private bool _aborted;
    private ConnectionAbortedException? _abortReason;
    private MemoryConnectionContext? _abortedBy;

    public MemoryConnectionPair(PipeOptions inputOptions, PipeOptions outputOptions, EndPoint serverEndPoint)
    {
        var clientEndPoint = new MemoryEndPoint(serverEndPoint + "/client");
        Client = new MemoryConnectionContext(this, inputOptions, outputOptions, clientEndPoint, serverEndPoint);
        Server = new MemoryConnectionContext(this, inputOptions, outputOptions, serverEndPoint, clientEndPoint);
    }

    public MemoryConnectionContext Client { get; }

    public MemoryConnectionContext Server { get; }

    public void Start()
    {
        _ = PumpAsync(Client, Server);
        _ = PumpAsync(Server, Client);
    }

    public void Abort(MemoryConnectionContext side, ConnectionAbortedException reason)
    {
        lock (_sync)
        {
            if (_aborted)
            {
                return;
            }

            _aborted = true;
            _abortReason = reason;
            _abortedBy = side;
        }

        // Wake both pumps wherever they wait; they see _aborted and tear their direction down.
        Client.OutputPipe.Reader.CancelPendingRead();
        Server.OutputPipe.Reader.CancelPendingRead();
        Client.InputPipe.Writer.CancelPendingFlush();
        Server.InputPipe.Writer.CancelPendingFlush();
        side.SignalClosed();
    }

    private bool IsAborted
    {
        get
        {
            lock (_sync)
            {
                return _aborted;
            }
        }
    }

    private async Task PumpAsync(MemoryConnectionContext from, MemoryConnectionContext to)
    {
        var source = from.OutputPipe.Reader;
        var target = to.InputPipe.Writer;
        var endOfStream = false;
        var receiverGone = false;
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await source.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled || IsAborted)
                {
                    break;
                }

                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    target.Write(segment.Span);
                }

                source.AdvanceTo(buffer.End);
                if (!buffer.IsEmpty)
                {
                    FlushResult flush;
                    try
                    {
                        flush = await target.FlushAsync().ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        // The receiving application completed its input with an error: it is gone.
                        receiverGone = true;
                        break;
                    }

                    if (flush.IsCanceled || IsAborted)
                    {
                        break;
                    }

                    if (flush.IsCompleted)
                    {
                        receiverGone = true;
                        break;
                    }
                }

                if (result.IsCompleted)
                {
                    endOfStream = true;
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            // The sending application completed its output with an error: the peer sees a reset.
            failure = ex;
        }

        bool aborted;
        ConnectionAbortedException? reason;
        MemoryConnectionContext? abortedBy;
        lock (_sync)
        {
            aborted = _aborted;
            reason = _abortReason;
            abortedBy = _abortedBy;
        }

        if (aborted)
        {
            // The side that aborted reads its own reason; the other side sees a reset, as after a TCP RST.
            await target.CompleteAsync(ReferenceEquals(to, abortedBy) ? reason : new ConnectionResetException("The connection was reset by the peer.")).ConfigureAwait(false);
        }
        else if (failure is not null)
        {
            await target.CompleteAsync(new ConnectionResetException("The connection was reset by the peer.", failure)).ConfigureAwait(false);
        }
        else
        {
            // A clean end of stream (FIN), or a receiver that has gone away.
            await target.CompleteAsync().ConfigureAwait(false);
        }

        // The sender's later flushes report completion: nobody reads this direction any more.
        await source.CompleteAsync().ConfigureAwait(false);
        if (endOfStream || aborted || failure is not null || receiverGone)
        {
            to.SignalClosed();
        }
    }
}
