using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace PipelineServer.Internal;

// Registers Kestrel's services in a plain generic host the way UseKestrelCore registers them in a web host, without
// a web host: UseKestrelCore only adds services, so it is given a builder that applies them to our collection.
// Going through Kestrel's own registration (instead of constructing KestrelServer) keeps its DI-provided pieces, such
// as its metrics, exactly as in a web app.
internal sealed class KestrelCoreRegistration(IServiceCollection services) : IWebHostBuilder
{
    private readonly Dictionary<string, string?> _settings = new(StringComparer.OrdinalIgnoreCase);

    public static void Register(IServiceCollection services) => new KestrelCoreRegistration(services).UseKestrelCore();

#pragma warning disable ASPDEPR008 // IWebHost is obsolete, but IWebHostBuilder.Build still returns it; never called.
    public IWebHost Build() => throw new NotSupportedException();
#pragma warning restore ASPDEPR008

    public IWebHostBuilder ConfigureAppConfiguration(Action<WebHostBuilderContext, IConfigurationBuilder> configureDelegate) => throw new NotSupportedException();

    public IWebHostBuilder ConfigureServices(Action<IServiceCollection> configureServices)
    {
        configureServices(services);
        return this;
    }

    public IWebHostBuilder ConfigureServices(Action<WebHostBuilderContext, IServiceCollection> configureServices) =>
        throw new NotSupportedException("Kestrel's core registration is expected to need no web host context.");

    public string? GetSetting(string key) => _settings.GetValueOrDefault(key);

    public IWebHostBuilder UseSetting(string key, string? value)
    {
        _settings[key] = value;
        return this;
    }
}
