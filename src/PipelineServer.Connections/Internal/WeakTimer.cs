namespace PipelineServer.Internal;

// A periodic timer that holds its owner weakly: a timer is rooted by the runtime's timer queue, so one that held its
// owner strongly would keep an abandoned owner (a pool, a stopped endpoint's middleware) alive for ever. Owners dispose
// the timer when disposed, or from a finalizer when nothing disposes them.
internal static class WeakTimer
{
    public static ITimer Start<TOwner>(TimeProvider time, TOwner owner, Action<TOwner> tick, TimeSpan period)
        where TOwner : class =>
        time.CreateTimer(
            static state =>
            {
                var (reference, tick) = ((WeakReference<TOwner>, Action<TOwner>))state!;
                if (reference.TryGetTarget(out var target))
                {
                    tick(target);
                }
            },
            (new WeakReference<TOwner>(owner), tick),
            period,
            period);
}
