namespace PipelineServer.Client;

/// <summary>How a <see cref="ProtocolClientPool{TRequest, TResponse}"/> chooses a connection for each request.</summary>
public enum LoadBalancing
{
    /// <summary>Each connection in turn.</summary>
    RoundRobin = 0,

    /// <summary>The connection with the fewest requests waiting for a response.</summary>
    LeastOutstanding = 1,
}
