using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using PipelineServer.Internal;

namespace PipelineServer.Hosting;

/// <summary>An endpoint PipelineServer registered with Kestrel, and the address it is bound to once the server runs.</summary>
public sealed class PipelineServerEndpoint
{
    internal PipelineServerEndpoint(string? name, string? configuredUrl)
    {
        Name = name;
        ConfiguredUrl = configuredUrl;
    }

    /// <summary>The endpoint's name, for endpoints whose URL comes from configuration; otherwise <see langword="null"/>.</summary>
    public string? Name { get; }

    /// <summary>The URL as configured (in code or configuration), before binding; for example <c>tcp://127.0.0.1:0</c>.</summary>
    public string? ConfiguredUrl { get; internal set; }

    /// <summary>
    /// The address: once the server is listening, the bound one (so port 0 shows the port the system chose);
    /// <see langword="null"/> before Kestrel has read its options.
    /// </summary>
    public EndPoint? EndPoint => ListenOptions?.EndPoint;

    /// <summary>The address as a URL, <c>tcp://127.0.0.1:7000</c>, <c>unix:/path</c> or <c>memory:name</c>.</summary>
    public string? Url => EndPoint is { } endPoint ? EndpointUrl.Format(endPoint) : ConfiguredUrl;

    internal ListenOptions? ListenOptions { get; set; }

    /// <summary>Returns <see cref="Url"/>.</summary>
    /// <returns>The URL.</returns>
    public override string ToString() => Url ?? Name ?? nameof(PipelineServerEndpoint);
}
