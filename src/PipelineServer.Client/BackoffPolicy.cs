namespace PipelineServer.Client;

/// <summary>How long to wait before each reconnect attempt.</summary>
public abstract class BackoffPolicy
{
    /// <summary>The delay before reconnect attempt <paramref name="attempt"/> (0 for the first attempt after a connection is lost).</summary>
    /// <param name="attempt">The attempt number, from 0.</param>
    /// <returns>The delay; <see cref="TimeSpan.Zero"/> to try at once.</returns>
    public abstract TimeSpan GetDelay(int attempt);

    /// <summary>The same delay before every attempt.</summary>
    /// <param name="delay">The delay.</param>
    /// <returns>The policy.</returns>
    public static BackoffPolicy Constant(TimeSpan delay)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new ConstantBackoff(delay);
    }

    /// <summary>
    /// Delays that double from <paramref name="initial"/> up to <paramref name="maximum"/>, each spread by up to
    /// ±<paramref name="jitter"/> (a fraction) so that many clients do not reconnect in lockstep.
    /// </summary>
    /// <param name="initial">The first delay.</param>
    /// <param name="maximum">The largest delay.</param>
    /// <param name="jitter">The random spread, from 0 (none) to 1.</param>
    /// <returns>The policy.</returns>
    public static BackoffPolicy Exponential(TimeSpan initial, TimeSpan maximum, double jitter = 0.2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(initial, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maximum, initial);
        ArgumentOutOfRangeException.ThrowIfLessThan(jitter, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(jitter, 1);
        return new ExponentialBackoff(initial, maximum, jitter);
    }

    private sealed class ConstantBackoff(TimeSpan delay) : BackoffPolicy
    {
        public override TimeSpan GetDelay(int attempt) => delay;
    }

    private sealed class ExponentialBackoff(TimeSpan initial, TimeSpan maximum, double jitter) : BackoffPolicy
    {
        public override TimeSpan GetDelay(int attempt)
        {
            var ticks = Math.Min(maximum.Ticks, initial.Ticks * Math.Pow(2, Math.Min(attempt, 30)));
            var spread = jitter == 0 ? 1 : 1 + ((Random.Shared.NextDouble() * 2) - 1) * jitter;
            return TimeSpan.FromTicks((long)Math.Min(maximum.Ticks, ticks * spread));
        }
    }
}
