using Microsoft.Extensions.Logging;

namespace PipelineServer.Client;

/// <summary>Options for a <see cref="ProtocolClientPool{TRequest, TResponse}"/>.</summary>
/// <typeparam name="TRequest">The request type.</typeparam>
/// <typeparam name="TResponse">The response type.</typeparam>
public sealed class ProtocolClientPoolOptions<TRequest, TResponse>
{
    /// <summary>How many connections to keep open; 1 by default.</summary>
    public int Connections { get; set; } = 1;

    /// <summary>How requests are spread over the connections; round-robin by default.</summary>
    public LoadBalancing LoadBalancing { get; set; } = LoadBalancing.RoundRobin;

    /// <summary>The wait before each reconnect attempt; exponential from 100 ms to 10 s, with jitter, by default.</summary>
    public BackoffPolicy ReconnectBackoff { get; set; } = BackoffPolicy.Exponential(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10));

    /// <summary>
    /// How long a request waits for a connection when none is up (all reconnecting) before failing with
    /// <see cref="TimeoutException"/>; 5 seconds by default.
    /// </summary>
    public TimeSpan ConnectionWaitTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Options for each connection's client: mode, request timeout, limits.</summary>
    public ProtocolClientOptions<TRequest, TResponse> Client { get; set; } = new();

    /// <summary>Where connection losses and reconnect attempts are logged; nowhere by default.</summary>
    public ILogger? Logger { get; set; }
}
