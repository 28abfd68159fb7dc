using PipelineServer.Protocols;

namespace PipelineServer.Client;

/// <summary>Options for a <see cref="ProtocolClient{TRequest, TResponse}"/>.</summary>
/// <typeparam name="TRequest">The request type.</typeparam>
/// <typeparam name="TResponse">The response type.</typeparam>
public sealed class ProtocolClientOptions<TRequest, TResponse>
{
    /// <summary>
    /// Tells server-pushed messages from responses. Messages for which it returns <see langword="true"/> go to
    /// <see cref="ProtocolClient{TRequest, TResponse}.ReadPushesAsync"/> instead of answering a request.
    /// </summary>
    public Func<TResponse, bool>? IsPush { get; set; }

    /// <summary>
    /// Correlated mode: the id a request carries. Set it with <see cref="ResponseId"/> when responses say which request
    /// they answer and may come back in any order; leave both unset for ordered mode (responses in request order).
    /// </summary>
    public Func<TRequest, long>? RequestId { get; set; }

    /// <summary>Correlated mode: the id of the request a response answers.</summary>
    public Func<TResponse, long>? ResponseId { get; set; }

    /// <summary>
    /// How long a request may wait for its response before failing with <see cref="TimeoutException"/>; the connection
    /// stays usable and the late response is discarded. 30 seconds by default; <see cref="Timeout.InfiniteTimeSpan"/>
    /// for none.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The most bytes one response may occupy on the wire; 1 MiB by default.</summary>
    public int MaxResponseSize { get; set; } = ProtocolDefaults.MaxMessageSize;

    /// <summary>How many pushed messages are buffered before the client stops reading from the connection; 1024 by default.</summary>
    public int PushBufferCapacity { get; set; } = 1024;

    /// <summary>
    /// Whether a caller's continuation after <c>await RequestAsync(...)</c> is queued to the thread pool (the default)
    /// rather than run on the connection's read loop. Turning it off saves a thread-pool hop per response, which pays
    /// for load generators and tight request loops; but then code after the await holds up every other response on the
    /// connection until it awaits again, so keep it short.
    /// </summary>
    public bool RunContinuationsAsynchronously { get; set; } = true;

    /// <summary>The clock for request timeouts.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal bool IsCorrelated => RequestId is not null;

    internal void Validate()
    {
        if ((RequestId is null) != (ResponseId is null))
        {
            throw new ArgumentException("Correlated mode needs both RequestId and ResponseId; ordered mode needs neither.");
        }

        if (RequestTimeout <= TimeSpan.Zero && RequestTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(RequestTimeout), RequestTimeout, "The request timeout must be positive, or infinite.");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxResponseSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PushBufferCapacity);
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
