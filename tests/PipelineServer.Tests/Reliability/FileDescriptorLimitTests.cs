using System.Net.Sockets;
using System.Text.RegularExpressions;
using EchoServer;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Reliability;

// Linux (ulimit, /proc). The echo sample as a process under a low `ulimit -n`, so that connections can reach the file-descriptor limit. Without
// the budget, 500 connections under a limit of 400 made the runtime abort ("Out of memory.") in 3 runs of 3.
public partial class FileDescriptorLimitTests
{
    private const int OpenFileLimit = 400;

    [Fact]
    public async Task AStormAboveTheLimitGetsClosedConnectionsWhileTheServerKeepsServingAndRecovers()
    {
        // The storm comes from one address: the sample's per-IP limit is off, so the descriptor budget meets it.
        await using var server = await SampleProcess.StartAsync(typeof(EchoProtocol).Assembly, OpenFileLimit, "--MaxConnectionsPerIp", "0");
        var (maxConnections, maxAccepted) = await ReadBudgetAsync(server);
        Assert.InRange(maxConnections, 50, OpenFileLimit);

        var storm = new List<TestClient>();
        try
        {
            for (var i = 0; i < maxConnections + 300; i++)
            {
                storm.Add(await TestClient.ConnectAsync(server.EndPoint));
            }

            // Exactly the first maxConnections are served; every other one is closed by the server, none left hanging.
            var served = 0;
            var closed = 0;
            foreach (var client in storm)
            {
                if (await TryEchoAsync(client, (byte)served))
                {
                    served++;
                }
                else
                {
                    closed++;
                }
            }

            Assert.Equal(maxConnections, served);
            Assert.Equal(300, closed);
            Assert.False(server.HasExited, server.Log);
            await server.WaitForLineAsync(static line => line.Contains("Closing new connections", StringComparison.Ordinal));
        }
        finally
        {
            await DisposeAllAsync(storm);
        }

        // Resources back: new connections are served. The server learns of each closed storm connection asynchronously, so
        // a connection made at once can still find the budget full and be closed: retried until one is served (each
        // attempt is a connect and an echo or a close, no wait in between), failing only if none is within 30 s.
        using var recovery = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var recovered = false;
        while (!recovered && !recovery.IsCancellationRequested)
        {
            await using var after = await TestClient.ConnectAsync(server.EndPoint);
            recovered = await TryEchoAsync(after, 42);
        }

        Assert.True(recovered, "no new connection was served after the storm's closed");
        Assert.True(maxAccepted > maxConnections);

        server.Terminate();
        Assert.Equal(0, await server.WaitForExitAsync());
    }

    [Fact]
    public async Task WithNoConnectionLimitAcceptingPausesAtTheLimitAndResumesWhenConnectionsClose()
    {
        // The app's own (too high) MaxConcurrentConnections: only the accept gate stands between it and the limit.
        await using var server = await SampleProcess.StartAsync(typeof(EchoProtocol).Assembly, OpenFileLimit, "--MaxConnections", "100000", "--MaxConnectionsPerIp", "0");
        var (_, maxAccepted) = await ReadBudgetAsync(server);

        var first = new List<TestClient>();
        var waiting = new List<TestClient>();
        try
        {
            for (var i = 0; i < maxAccepted; i++)
            {
                first.Add(await TestClient.ConnectAsync(server.EndPoint));
                Assert.True(await TryEchoAsync(first[^1], 1));
            }

            // These complete their TCP handshake in the listen backlog, but the server does not accept them yet.
            for (var i = 0; i < 20; i++)
            {
                waiting.Add(await TestClient.ConnectAsync(server.EndPoint));
                await waiting[^1].SendFrameAsync(new byte[] { 2 });
            }

            await server.WaitForLineAsync(static line => line.Contains("Accepting paused", StringComparison.Ordinal));
            Assert.False(server.HasExited, server.Log);

            // Close 20 served connections: the waiting ones are accepted and answered.
            await DisposeAllAsync(first.GetRange(0, 20));
            first.RemoveRange(0, 20);
            foreach (var client in waiting)
            {
                Assert.Equal([2], await client.ReceiveFrameAsync());
            }

            Assert.True(await TryEchoAsync(first[^1], 3));
        }
        finally
        {
            await DisposeAllAsync(first);
            await DisposeAllAsync(waiting);
        }

        server.Terminate();
        Assert.Equal(0, await server.WaitForExitAsync());
    }

    private static async Task<(long MaxConnections, long MaxAccepted)> ReadBudgetAsync(SampleProcess server)
    {
        var line = await server.WaitForLineAsync(static line => Budget().IsMatch(line));
        var match = Budget().Match(line);
        return (long.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
            long.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    // True when the server echoes the frame; false when it closes the connection (cleanly or with a reset).
    private static async Task<bool> TryEchoAsync(TestClient client, byte value)
    {
        try
        {
            await client.SendFrameAsync(new[] { value });
            return (await client.ReceiveFrameAsync()) is [var echoed] && echoed == value;
        }
        catch (Exception e) when (e is IOException or SocketException or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            return false;
        }
    }

    private static async Task DisposeAllAsync(List<TestClient> clients)
    {
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }
    }

    [GeneratedRegex(@"connections over (\d+) are closed at once unless Kestrel's MaxConcurrentConnections is set, and accepting pauses at (\d+) open connections")]
    private static partial Regex Budget();
}

public class FileDescriptorBudgetTests
{
    [Theory]
    [InlineData(400, 136, 232, 200)] // reserve 32 for the runtime, then 32 of room for connections Kestrel rejects
    [InlineData(1024, 140, 852, 746)]
    [InlineData(65536, 140, 63348, 62324)] // the room for rejected connections is capped at 1024
    [InlineData(150, 140, 2, 1)] // too few to matter: still serves
    public void BoundsFollowTheSoftLimit(long softLimit, long open, long hard, long soft) =>
        Assert.Equal((hard, soft), Internal.FileDescriptorBudget.Compute(softLimit, open));

    [Fact]
    public void NoLimitOrAnUnknownOneChangesNothing()
    {
        Assert.Null(Internal.FileDescriptorBudget.Compute(null, 100));
        Assert.Null(Internal.FileDescriptorBudget.Compute(1024, null));
        Assert.Null(Internal.FileDescriptorBudget.Compute(1L << 30, 100));
    }

    [Fact]
    public void ReadsTheSoftLimitFromProcLimits()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(path,
            [
                "Limit                     Soft Limit           Hard Limit           Units     ",
                "Max processes             95654                95654                processes ",
                "Max open files            1024                 524288               files     ",
            ]);
            Assert.Equal(1024, Internal.FileDescriptorBudget.ReadSoftLimit(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
