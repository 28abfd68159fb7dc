using System.Net;
using System.Text.Json;
using KeyValueServer;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PipelineServer.Hosting;
using PipelineServer.LoadTest.Cli;
using PipelineServer.Resp;

namespace PipelineServer.LoadTest.Tests;

/// <summary>The resp scenario against real RESP servers on loopback: a correct one and one that answers GETs wrongly.</summary>
public sealed class RespScenarioTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("loadtest-resp-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Runs_a_verified_get_set_mix_against_a_redis_compatible_server()
    {
        using var host = KeyValueHost.Create(["--Url", "tcp://127.0.0.1:0"], static b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await host.StartAsync();
        var json = Path.Combine(_directory, "resp.json");

        // 3 s: the full suite runs the test projects side by side on two cores, and a cold first run has starved to 0
        // requests in 1 s (exit 3) while the reliability tests were flooding their own servers.
        var exit = await InvokeAsync("resp", "--target", Url(host), "-c", "4", "-p", "8", "-s", "32", "--keys", "100", "--set-percent", "30", "-d", "3s", "-w", "300ms", "--json", json);

        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var root = document.RootElement;
        Assert.Equal("resp", root.GetProperty("scenario").GetString());
        Assert.True(root.GetProperty("requests").GetInt64() > 0);
        Assert.Equal(0, root.GetProperty("mismatches").GetInt64());
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        Assert.InRange(host.Services.GetRequiredService<KeyValueStore>().Count, 1, 100); // the SETs landed, within the key space
        await host.StopAsync();
    }

    [Fact]
    public async Task Batch_mode_sends_whole_pipelines_and_verifies_every_reply()
    {
        using var host = KeyValueHost.Create(["--Url", "tcp://127.0.0.1:0"], static b => b.Logging.SetMinimumLevel(LogLevel.Warning));
        await host.StartAsync();
        var json = Path.Combine(_directory, "batch.json");

        var exit = await InvokeAsync("resp", "--target", Url(host), "-c", "3", "-p", "16", "--batch", "-d", "3s", "-w", "300ms", "--json", json);

        Assert.Equal(ExitCodes.Success, exit);
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        Assert.True(document.RootElement.GetProperty("requests").GetInt64() > 16);
        Assert.Equal(0, document.RootElement.GetProperty("mismatches").GetInt64());
        await host.StopAsync();
    }

    [Fact]
    public async Task A_server_that_answers_a_get_with_another_value_is_caught()
    {
        var dispatcher = new RespCommandDispatcher()
            .Map("SET", -3, static (context, _) =>
            {
                context.WriteOk();
                return default;
            })
            .Map("GET", 2, static (context, _) =>
            {
                context.WriteBulkString("not the value the harness wrote"u8.ToArray());
                return default;
            });
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:0", endpoint => endpoint.UseResp(dispatcher)));
        using var host = builder.Build();
        await host.StartAsync();

        var exit = await InvokeAsync("resp", "--target", Url(host), "-c", "2", "-p", "4", "-d", "1s", "-w", "300ms");

        Assert.Equal(ExitCodes.Mismatch, exit);
        await host.StopAsync();
    }

    private static string Url(IHost host)
    {
        var endPoint = (IPEndPoint)host.Services.GetRequiredService<PipelineServerEndpoints>()[0].EndPoint!;
        return $"tcp://127.0.0.1:{endPoint.Port}";
    }

    private static Task<int> InvokeAsync(params string[] args) => Commands.Build().Parse(args).InvokeAsync();
}
