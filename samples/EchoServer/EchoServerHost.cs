using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace EchoServer;

/// <summary>Builds the echo server's host from standard .NET configuration (appsettings.json, environment, command line).</summary>
public static class EchoServerHost
{
    /// <summary>
    /// Creates the host. Settings: <c>Url</c> (default <c>tcp://127.0.0.1:7000</c>) and <c>MaxFrameLength</c> (default
    /// 1 MiB, length field included); for example <c>--Url tcp://0.0.0.0:7000 --MaxFrameLength 65536</c>, or the
    /// environment variables <c>Url</c> and <c>MaxFrameLength</c>.
    /// </summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="configure">Extra configuration of the builder (tests use it to capture logs).</param>
    /// <returns>The host, not started.</returns>
    public static IHost Create(string[] args, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        var url = builder.Configuration["Url"] ?? EchoProtocol.DefaultUrl;
        var maxFrameLength = builder.Configuration.GetValue("MaxFrameLength", EchoProtocol.DefaultMaxFrameLength);
        configure?.Invoke(builder);

        builder.AddPipelineServer(server => server.Listen(url, endpoint => endpoint.UseEcho(maxFrameLength)));
        return builder.Build();
    }
}
