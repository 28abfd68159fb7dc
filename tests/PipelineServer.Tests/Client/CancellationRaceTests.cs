using System.Buffers.Binary;
using System.Collections.Concurrent;
using EchoServer;
using PipelineServer.Client;
using PipelineServer.Protocols;
using PipelineServer.Tests.Infrastructure;
using Xunit.Abstractions;

namespace PipelineServer.Tests.Client;

/// <summary>
/// Cancellations racing responses. Pending requests are pooled, so a cancellation callback that runs late (after its
/// request was answered and the pending request reused) must not reach the request that reuses it.
/// </summary>
public class CancellationRaceTests(ITestOutputHelper output)
{
    // 32 callers × 2,000 requests per case, every other one cancelled by CancelAfter(0), so that a timer thread cancels
    // it about when its response arrives. Inline continuations and the in-memory transport keep round trips short, so a
    // pending request is soon reused while a cancellation callback that was held up is still to run. On the code before
    // the fix every run of the four cases failed (10 of 10; correlated cases 19 of 20, ordered 11 of 20).
    private const int Callers = 32;
    private const int RequestsPerCaller = 2_000;

    private static readonly IMessageReader<byte[]> s_responses = EchoProtocol.CreateReader().Select(static frame => frame.ToArray());

    public enum Mode
    {
        Ordered,
        Correlated,
    }

    public enum Topology
    {
        Client,
        Pool,
    }

    public static TheoryData<Mode, Topology> Cases => new()
    {
        { Mode.Ordered, Topology.Client },
        { Mode.Ordered, Topology.Pool },
        { Mode.Correlated, Topology.Client },
        { Mode.Correlated, Topology.Pool },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task ACancellationReachesOnlyItsOwnRequestHoweverLateItsCallbackRuns(Mode mode, Topology topology)
    {
        await using var host = await TestHost.StartAsync(TransportKind.Memory, static listen => listen.UseEcho());
        var options = new ProtocolClientOptions<ReadOnlySequence<byte>, byte[]> { RunContinuationsAsynchronously = false };
        if (mode == Mode.Correlated)
        {
            options.RequestId = static request => BinaryPrimitives.ReadInt64BigEndian(request.FirstSpan);
            options.ResponseId = static response => BinaryPrimitives.ReadInt64BigEndian(response);
        }

        ProtocolClient<ReadOnlySequence<byte>, byte[]>? client = null;
        ProtocolClientPool<ReadOnlySequence<byte>, byte[]>? pool = null;
        if (topology == Topology.Client)
        {
            client = await ProtocolClient.ConnectAsync(host.ClientFactory(), host.EndPoint, s_responses, EchoProtocol.Writer, options);
        }
        else
        {
            pool = await ProtocolClientPool.ConnectAsync(host.ClientFactory(), host.EndPoint, s_responses, EchoProtocol.Writer, new()
            {
                Connections = 4,
                LoadBalancing = LoadBalancing.LeastOutstanding,
                Client = options,
            });
        }

        var failures = new ConcurrentQueue<string>();
        var cancelled = 0;
        try
        {
            var callers = new Task[Callers];
            for (var caller = 0; caller < Callers; caller++)
            {
                callers[caller] = RunCallerAsync(caller);
            }

            await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(client?.IsConnected ?? pool!.ConnectedCount == 4, "A connection ended: it fell out of step with the server.");
        }
        finally
        {
            if (client is not null)
            {
                await client.DisposeAsync();
            }

            if (pool is not null)
            {
                await pool.DisposeAsync();
            }
        }

        // How many cancellations beat their responses depends on the machine; it is reported, not asserted.
        output.WriteLine($"{Callers * RequestsPerCaller} requests, {Callers * RequestsPerCaller / 2} with a token cancelled at once; {cancelled} cancelled before their response, {failures.Count} failed.");
        Assert.True(failures.IsEmpty, $"{failures.Count} of {Callers * RequestsPerCaller} requests got another request's outcome; first: {failures.FirstOrDefault()}");

        Task RunCallerAsync(int caller) => Task.Run(async () =>
        {
            var payload = new byte[16];
            for (var i = 0; i < RequestsPerCaller; i++)
            {
                // A unique id (the correlation id in correlated mode), then the caller and sequence number.
                BinaryPrimitives.WriteInt64BigEndian(payload, ((long)caller * RequestsPerCaller) + i);
                BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(8), caller);
                BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(12), i);
                var request = new ReadOnlySequence<byte>(payload);

                // Every other request is cancelled by a timer as soon as it fires; the others are never cancelled. The
                // sources are not disposed: disposing stops the timer, and a late cancellation is what is tested.
                CancellationTokenSource? cancel = null;
                if (i % 2 == 0)
                {
                    cancel = new CancellationTokenSource();
                    cancel.CancelAfter(0);
                }

                var token = cancel?.Token ?? default;
                try
                {
                    var response = await (pool is not null ? pool.RequestAsync(request, token) : client!.RequestAsync(request, token));
                    if (!response.AsSpan().SequenceEqual(payload))
                    {
                        failures.Enqueue($"caller {caller} request {i} got the response to another request");
                    }
                }
                catch (OperationCanceledException ex) when (cancel is not null && ex.CancellationToken == token)
                {
                    Interlocked.Increment(ref cancelled);
                }
                catch (Exception ex)
                {
                    // An uncancelled request that fails, or a cancelled one failed by another request's token.
                    failures.Enqueue($"caller {caller} request {i} ({(cancel is null ? "never cancelled" : "cancelled")}) failed: {ex}");
                }
            }
        });
    }
}
