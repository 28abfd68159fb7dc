using Microsoft.Extensions.DependencyInjection;
using PipelineServer.Hosting;

namespace Microsoft.Extensions.Hosting;

/// <summary>Adds PipelineServer to a host application builder.</summary>
public static class PipelineServerHostApplicationBuilderExtensions
{
    /// <summary>
    /// Adds PipelineServer endpoints: a standalone protocol server on Kestrel's transport when the builder is a plain
    /// generic host (<c>Host.CreateApplicationBuilder</c>), or extra endpoints on the app's Kestrel when it is an
    /// ASP.NET Core app (<c>WebApplication.CreateBuilder</c>).
    /// </summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The host application builder.</param>
    /// <param name="configure">Adds endpoints.</param>
    /// <returns>The builder.</returns>
    public static TBuilder AddPipelineServer<TBuilder>(this TBuilder builder, Action<PipelineServerBuilder> configure)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddPipelineServer(configure);
        return builder;
    }
}
