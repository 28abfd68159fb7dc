using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;

namespace PipelineServer.Internal;

// Standalone: starts and stops Kestrel itself, with no HTTP application and no web host, and logs its endpoints as
// the protocol URLs they are (the web host would call them http://). Beside a web app, the web host runs Kestrel and
// this service only logs the endpoints once the application has started.
internal sealed class PipelineServerHostedService(
    IServiceProvider services,
    PipelineServerEndpoints endpoints,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory,
    StandaloneMarker? standalone = null) : IHostedService
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(HostingLog.CategoryName);
    private IServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (standalone is null)
        {
            lifetime.ApplicationStarted.Register(static state => ((PipelineServerHostedService)state!).LogEndpoints(), this);
            return;
        }

        if (endpoints.Count == 0)
        {
            // Kestrel with nothing configured would bind http://localhost:5000; a protocol server must not.
            HostingLog.NoEndpoints(_logger);
            return;
        }

        _server = services.GetRequiredService<IServer>();
        await _server.StartAsync(new NoHttpApplication(), cancellationToken).ConfigureAwait(false);
        LogEndpoints();
    }

    public Task StopAsync(CancellationToken cancellationToken) =>
        // Kestrel asks every connection to close, waits until the host's shutdown timeout, then aborts the rest.
        _server?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    private void LogEndpoints()
    {
        foreach (var endpoint in endpoints)
        {
            HostingLog.ListeningOn(_logger, endpoint.Url ?? endpoint.ToString());
        }
    }

    private sealed class NoHttpApplication : IHttpApplication<object>
    {
        public object CreateContext(IFeatureCollection contextFeatures) =>
            throw new InvalidOperationException("A standalone PipelineServer serves no HTTP.");

        public Task ProcessRequestAsync(object context) => Task.CompletedTask;

        public void DisposeContext(object context, Exception? exception)
        {
        }
    }
}

// Registered when AddPipelineServer found no server in the container and registered Kestrel itself.
internal sealed class StandaloneMarker;
