using System.Collections.Concurrent;

namespace PipelineServer.Client.Transports.Sockets;

// A pipe scheduler that runs the transport's continuations in batches: scheduling adds to a queue, and only the first
// item of a burst costs a thread-pool dispatch; the worker then drains whatever arrived meanwhile. Connections share a
// few of these, so sends and receives of many connections ride on few work items.
internal sealed class IOQueue : System.IO.Pipelines.PipeScheduler, IThreadPoolWorkItem
{
    private static readonly IOQueue[] s_queues = CreateQueues();
    private static int s_next;

    private readonly ConcurrentQueue<(Action<object?> Callback, object? State)> _work = new();
    private int _scheduled;

    public static IOQueue Next() => s_queues[(int)((uint)Interlocked.Increment(ref s_next) % (uint)s_queues.Length)];

    public override void Schedule(Action<object?> action, object? state)
    {
        _work.Enqueue((action, state));
        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        while (true)
        {
            while (_work.TryDequeue(out var item))
            {
                item.Callback(item.State);
            }

            Volatile.Write(ref _scheduled, 0);
            // Work enqueued after the drain but before the flag was cleared would otherwise wait for the next burst.
            if (_work.IsEmpty || Interlocked.Exchange(ref _scheduled, 1) != 0)
            {
                return;
            }
        }
    }

    private static IOQueue[] CreateQueues()
    {
        var queues = new IOQueue[Math.Clamp(Environment.ProcessorCount, 1, 16)];
        for (var i = 0; i < queues.Length; i++)
        {
            queues[i] = new IOQueue();
        }

        return queues;
    }
}
