using System.Collections;

namespace PipelineServer.Hosting;

/// <summary>
/// Every endpoint PipelineServer registered with Kestrel, in registration order. Resolve it from dependency injection
/// to find the bound addresses (for example the port chosen for <c>tcp://127.0.0.1:0</c>).
/// </summary>
public sealed class PipelineServerEndpoints : IReadOnlyList<PipelineServerEndpoint>
{
    private readonly List<PipelineServerEndpoint> _endpoints;

    internal PipelineServerEndpoints(IEnumerable<PipelineServerEndpoint> endpoints) => _endpoints = [.. endpoints];

    /// <inheritdoc />
    public int Count => _endpoints.Count;

    /// <inheritdoc />
    public PipelineServerEndpoint this[int index] => _endpoints[index];

    /// <summary>The endpoint registered under <paramref name="name"/>.</summary>
    /// <param name="name">The name given to <see cref="PipelineServerBuilder.Endpoint(string, Action{Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions})"/>.</param>
    /// <returns>The endpoint.</returns>
    /// <exception cref="KeyNotFoundException">No endpoint has that name.</exception>
    public PipelineServerEndpoint this[string name]
    {
        get
        {
            foreach (var endpoint in _endpoints)
            {
                if (string.Equals(endpoint.Name, name, StringComparison.OrdinalIgnoreCase))
                {
                    return endpoint;
                }
            }

            throw new KeyNotFoundException($"No PipelineServer endpoint is named '{name}'.");
        }
    }

    /// <inheritdoc />
    public IEnumerator<PipelineServerEndpoint> GetEnumerator() => _endpoints.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
