using System.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PipelineServer.Buffers;
using PipelineServer.Hosting;
using PipelineServer.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers PipelineServer endpoints with dependency injection.</summary>
public static class PipelineServerServiceCollectionExtensions
{
    /// <summary>
    /// Adds PipelineServer endpoints. In a plain generic host (no web server registered) this also registers Kestrel
    /// without HTTP and a hosted service that runs it: a standalone protocol server. In an ASP.NET Core app the
    /// endpoints join the app's own Kestrel, beside its HTTP endpoints, sharing its container.
    /// </summary>
    /// <param name="services">The application's services.</param>
    /// <param name="configure">Adds endpoints.</param>
    /// <returns>The services.</returns>
    /// <remarks>
    /// Beside a web app, give the HTTP endpoints with <c>ConfigureKestrel</c> or the <c>Kestrel:Endpoints</c>
    /// configuration section: once any endpoint is configured in code, Kestrel ignores <c>ASPNETCORE_URLS</c> and
    /// <c>--urls</c> (and says so in a warning).
    /// </remarks>
    public static IServiceCollection AddPipelineServer(this IServiceCollection services, Action<PipelineServerBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        if (!services.Any(static d => d.ServiceType == typeof(StandaloneMarker) || d.ServiceType == typeof(IServer)))
        {
            KestrelCoreRegistration.Register(services);
            services.AddSingleton<StandaloneMarker>();

            // Protocol connections read into 16 KiB blocks instead of Kestrel's 4 KiB ones (see docs/performance.md);
            // registered after Kestrel's own factory, so it is the one resolved. An app registering its own
            // IMemoryPoolFactory<byte> after this call overrides it.
            services.AddSingleton<IMemoryPoolFactory<byte>>(new BlockMemoryPoolFactory());
            // Kestrel takes a DiagnosticSource, which the web host would provide.
            services.TryAddSingleton(static _ => new DiagnosticListener("Microsoft.AspNetCore"));
            services.TryAddSingleton<DiagnosticSource>(static sp => sp.GetRequiredService<DiagnosticListener>());
            // The one clock of every timeout and rate limit, unless the app registered its own.
            services.TryAddSingleton(TimeProvider.System);
            // Connections may not take the last file descriptors (see FileDescriptorBudget).
            services.AddSingleton<FileDescriptorBudget>();
            services.AddSingleton<IPostConfigureOptions<KestrelServerOptions>>(static sp => sp.GetRequiredService<FileDescriptorBudget>());
            GateSocketListeners(services);
        }

        if (!services.Any(static d => d.ServiceType == typeof(PipelineServerEndpoints)))
        {
            services.AddSingleton(static sp => new PipelineServerEndpoints(sp.GetServices<EndpointRegistration>().Select(static r => r.Endpoint)));
            services.AddSingleton<IConfigureOptions<KestrelServerOptions>, KestrelEndpointSetup>();
            services.AddHostedService<PipelineServerHostedService>();
        }

        configure(new PipelineServerBuilder(services));
        return services;
    }

    // Replaces Kestrel's socket transport registration with the same transport behind the file-descriptor gate.
    private static void GateSocketListeners(IServiceCollection services)
    {
        for (var i = 0; i < services.Count; i++)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType == typeof(IConnectionListenerFactory) && descriptor.ImplementationType == typeof(SocketTransportFactory))
            {
                services[i] = ServiceDescriptor.Singleton<IConnectionListenerFactory>(static sp => new GatedListenerFactory(
                    ActivatorUtilities.CreateInstance<SocketTransportFactory>(sp), sp.GetRequiredService<FileDescriptorBudget>()));
            }
        }
    }
}
