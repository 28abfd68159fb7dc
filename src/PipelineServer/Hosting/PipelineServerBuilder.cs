using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using PipelineServer.Internal;

namespace PipelineServer.Hosting;

/// <summary>
/// Adds PipelineServer endpoints to Kestrel. Each endpoint is a Kestrel <see cref="ListenOptions"/>: add connection
/// middleware to it (for example <c>UseHttps</c>) and end it with <c>UseProtocol</c>.
/// </summary>
/// <remarks>
/// Several calls to <c>AddPipelineServer</c>, and several endpoints, add up; registering two endpoints under one name
/// is an error rather than a silent replacement, and two endpoints on one address fail when Kestrel binds them.
/// </remarks>
public sealed class PipelineServerBuilder
{
    /// <summary>The configuration section named endpoints are read from: <c>PipelineServer:Endpoints:{name}:Url</c>.</summary>
    public const string EndpointsSection = "PipelineServer:Endpoints";

    internal PipelineServerBuilder(IServiceCollection services) => Services = services;

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Listens on a URL: <c>tcp://host:port</c>, <c>unix:/path/to.sock</c> or <c>memory:name</c>.</summary>
    /// <param name="url">
    /// The URL. The host of a <c>tcp://</c> URL is an IP address (<c>127.0.0.1</c>, <c>[::1]</c>), <c>localhost</c>
    /// (both loopback addresses) or <c>*</c> (all addresses); port 0 lets the system choose.
    /// </param>
    /// <param name="configure">Adds connection middleware and the protocol.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="FormatException">The URL is not a PipelineServer endpoint URL.</exception>
    public PipelineServerBuilder Listen(string url, Action<ListenOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        EndpointUrl.Parse(url);
        return Add(new EndpointRegistration(new PipelineServerEndpoint(null, url), url, null, configure));
    }

    /// <summary>Listens on an endpoint: an <see cref="IPEndPoint"/>, a <see cref="System.Net.Sockets.UnixDomainSocketEndPoint"/>, a <see cref="Transports.Memory.MemoryEndPoint"/>, or any endpoint a registered transport binds.</summary>
    /// <param name="endPoint">The endpoint.</param>
    /// <param name="configure">Adds connection middleware and the protocol.</param>
    /// <returns>This builder.</returns>
    public PipelineServerBuilder Listen(EndPoint endPoint, Action<ListenOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(configure);
        return Add(new EndpointRegistration(new PipelineServerEndpoint(null, EndpointUrl.Format(endPoint)), null, endPoint, configure));
    }

    /// <summary>
    /// Listens on the URL configured for <paramref name="name"/> under <c>PipelineServer:Endpoints:{name}:Url</c>
    /// (appsettings.json, environment variables such as <c>PipelineServer__Endpoints__echo__Url</c>, or the command
    /// line). Starting the host fails if no URL is configured.
    /// </summary>
    /// <param name="name">The endpoint's name.</param>
    /// <param name="configure">Adds connection middleware and the protocol.</param>
    /// <returns>This builder.</returns>
    public PipelineServerBuilder Endpoint(string name, Action<ListenOptions> configure) => AddNamed(name, null, configure);

    /// <summary>
    /// Listens on the URL configured for <paramref name="name"/> under <c>PipelineServer:Endpoints:{name}:Url</c>,
    /// or on <paramref name="defaultUrl"/> when none is configured.
    /// </summary>
    /// <param name="name">The endpoint's name.</param>
    /// <param name="defaultUrl">The URL used when configuration has none.</param>
    /// <param name="configure">Adds connection middleware and the protocol.</param>
    /// <returns>This builder.</returns>
    public PipelineServerBuilder Endpoint(string name, string defaultUrl, Action<ListenOptions> configure)
    {
        EndpointUrl.Parse(defaultUrl);
        return AddNamed(name, defaultUrl, configure);
    }

    /// <summary>
    /// Adds a transport to Kestrel for the endpoints it can bind, such as <see cref="Transports.Memory.MemoryTransport"/>
    /// for <c>memory:</c> endpoints. The transport is also registered as itself, so tests can resolve it to connect.
    /// </summary>
    /// <typeparam name="TTransport">The transport type.</typeparam>
    /// <param name="transport">The transport. It should implement <see cref="IConnectionListenerFactorySelector"/>, so Kestrel keeps its socket transport for other endpoints.</param>
    /// <returns>This builder.</returns>
    public PipelineServerBuilder AddTransport<TTransport>(TTransport transport)
        where TTransport : class, IConnectionListenerFactory
    {
        ArgumentNullException.ThrowIfNull(transport);
        // Added after Kestrel's socket transport, so Kestrel (which tries the last registered first) asks this one
        // first and falls back to sockets for endpoints it does not bind.
        Services.AddSingleton<IConnectionListenerFactory>(transport);
        Services.AddSingleton(transport);
        return this;
    }

    private PipelineServerBuilder AddNamed(string name, string? defaultUrl, Action<ListenOptions> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        foreach (var descriptor in Services)
        {
            if (descriptor.ServiceType == typeof(EndpointRegistration)
                && descriptor.ImplementationInstance is EndpointRegistration existing
                && string.Equals(existing.Endpoint.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"A PipelineServer endpoint named '{name}' is already registered; a later registration never replaces an earlier one.");
            }
        }

        return Add(new EndpointRegistration(new PipelineServerEndpoint(name, defaultUrl), defaultUrl, null, configure));
    }

    private PipelineServerBuilder Add(EndpointRegistration registration)
    {
        Services.AddSingleton(registration);
        return this;
    }
}
