using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using EchoServer;
using KeyValueServer;
using Microsoft.Extensions.Logging;
using PipelineServer.Resp;
using PipelineServer.Protocols;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Reliability;

// A peer that sends requests and never reads must not make the server hold more output than the connection's bounds,
// whichever way the output is written: Write in the loop, WriteAsync, or pushes from other threads.
public class OutputBoundTests
{
    private const int ResponseSize = 64 * 1024;
    private const int ResponseFrame = ResponseSize + EchoProtocol.HeaderLength;
    private const string PeakBuffered = "pipelineserver.connection.output.peak_buffered";
    private const string Closed = "pipelineserver.closed_connections";

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task ResponsesWrittenWithWriteToAPeerThatDoesNotReadStayUnderTheHighWaterMark(TransportKind transport)
    {
        // The figures: 4,000 five-byte requests, each answered with 64 KiB, never read (254 MiB held before).
        const int Requests = 4000;
        var handler = new WritingHandler(ResponseSize);
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler));
        using var metrics = new MetricsRecorder(host.Services);
        await using var slow = await host.ConnectAsync();
        await using var other = await host.ConnectAsync();

        await slow.SendAsync(Enumerable.Range(0, Requests).SelectMany(static _ => TestClient.Frame([1])).ToArray());

        // The writer reports itself full (the transport has stopped taking output) long before it has answered them all.
        var handledWhenFull = await handler.Full.WaitAsync(TestClient.Timeout);
        Assert.InRange(handledWhenFull, 1, Requests / 4);

        await other.SendFrameAsync(new byte[] { 2 });
        Assert.Equal(ResponseSize, (await other.ReceiveFrameAsync()).Length);

        // Nothing accepted is lost: once the peer reads, every response arrives.
        for (var i = 0; i < Requests; i++)
        {
            Assert.Equal(ResponseSize, (await slow.ReceiveFrameAsync()).Length);
        }

        Assert.InRange(handler.MostHeld, ResponseFrame, ProtocolDefaults.OutputHighWaterMark + ResponseFrame);
        await slow.DisposeAsync();
        await metrics.WaitForAsync(Closed, 1);
        Assert.InRange(metrics.Max(PeakBuffered), ResponseFrame, ProtocolDefaults.OutputHighWaterMark + ResponseFrame);
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task PushesWrittenWithWriteToAPeerThatDoesNotReadAbortItAtTheOutputLimit(TransportKind transport)
    {
        var handler = new PushingHandler(ResponseSize, awaitEachWrite: false);
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler));
        using var metrics = new MetricsRecorder(host.Services);
        await using var slow = await host.ConnectAsync();
        await using var other = await host.ConnectAsync();

        // One request starts a push loop on another thread; the peer never reads.
        await slow.SendFrameAsync(new byte[] { 1 });
        var ended = await handler.PushesEnded.WaitAsync(TestClient.Timeout);

        Assert.IsType<ConnectionClosedException>(ended);
        await metrics.WaitForAsync(Closed, 1, "output_overflow");
        Assert.InRange(metrics.Max(PeakBuffered), ProtocolDefaults.MaxBufferedOutput, ProtocolDefaults.MaxBufferedOutput + ResponseFrame);
        var logged = await host.Logs.WaitForEventAsync("OutputLimitExceeded");
        Assert.Equal(LogLevel.Debug, logged.Level);

        await other.SendFrameAsync(new byte[] { 2 });
        Assert.Equal([2], await other.ReceiveFrameAsync());
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task PushesWrittenWithWriteAsyncToAPeerThatDoesNotReadWaitAndAllArriveOnceItReads(TransportKind transport)
    {
        const int Pushes = 400;
        var handler = new PushingHandler(ResponseSize, awaitEachWrite: true, limit: Pushes);
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, handler));
        await using var slow = await host.ConnectAsync();

        await slow.SendFrameAsync(new byte[] { 1 });
        var pushedWhenFull = await handler.Full.WaitAsync(TestClient.Timeout);
        Assert.InRange(pushedWhenFull, 1, Pushes / 2);

        // The first frame is the echo of the request, the rest are the pushes, none lost.
        Assert.Equal([1], await slow.ReceiveFrameAsync());
        for (var i = 0; i < Pushes; i++)
        {
            Assert.Equal(ResponseSize, (await slow.ReceiveFrameAsync()).Length);
        }

        Assert.Null(await handler.PushesEnded.WaitAsync(TestClient.Timeout));
        Assert.InRange(handler.MostHeld, ResponseFrame, ProtocolDefaults.OutputHighWaterMark + ResponseFrame);
        Assert.Empty(host.Errors);
    }

    [Fact]
    public async Task PipelinedGetsOfAMegabyteValueFromAPeerThatDoesNotReadHoldOneValueNotAllOfThem()
    {
        // The KeyValueServer scenario: SET a 1 MiB value, pipeline 2,000 GETs of it (about 60 KB sent), never
        // read. Before the bound the server held every answer (1.8 GiB of RSS); the write timeout then ends it.
        const int Value = 1024 * 1024;
        const int Gets = 2000;
        var store = new KeyValueStore(TimeProvider.System);
        await using var host = await TestHost.StartAsync(TransportKind.Sockets, listen => listen
            .UseTimeouts(options => options.WriteTimeout = TimeSpan.FromSeconds(1))
            .UseResp(KeyValueCommands.CreateDispatcher(store)));
        using var metrics = new MetricsRecorder(host.Services);
        await using var attacker = await host.ConnectAsync();
        await using var other = await host.ConnectAsync();

        var set = new StringBuilder().Append("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$").Append(Value).Append("\r\n").ToString();
        await attacker.SendAsync((byte[])[.. Encoding.ASCII.GetBytes(set), .. new byte[Value], .. "\r\n"u8]);
        Assert.Equal("+OK\r\n"u8.ToArray(), await attacker.ReceiveExactlyAsync(5));
        var get = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"u8.ToArray();
        await attacker.SendAsync(Enumerable.Range(0, Gets).SelectMany(_ => get).ToArray());

        await other.SendAsync("*1\r\n$4\r\nPING\r\n"u8.ToArray());
        Assert.Equal("+PONG\r\n"u8.ToArray(), await other.ReceiveExactlyAsync(7));

        await metrics.WaitForAsync(Closed, 1, "write_timeout");
        var bulkReply = Value + 32;
        Assert.InRange(metrics.Max(PeakBuffered), Value, ProtocolDefaults.OutputHighWaterMark + bulkReply);
        Assert.Empty(host.Errors);
    }

    [Theory]
    [MemberData(nameof(TestTransports.All), MemberType = typeof(TestTransports))]
    public async Task AnMGetLargerThanTheOutputLimitReachesAReadingClientWhole(TransportKind transport)
    {
        // Eight 1 MiB values in one reply: twice the output limit, so the handler must wait for the client as it writes.
        const int Value = 1024 * 1024;
        const int Keys = 8;
        var store = new KeyValueStore(TimeProvider.System);
        await using var host = await TestHost.StartAsync(transport, listen => listen.UseResp(KeyValueCommands.CreateDispatcher(store)));
        await using var client = await host.ConnectAsync();
        var set = new StringBuilder().Append("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$").Append(Value).Append("\r\n").ToString();
        var value = new byte[Value];
        Random.Shared.NextBytes(value);
        await client.SendAsync((byte[])[.. Encoding.ASCII.GetBytes(set), .. value, .. "\r\n"u8]);
        Assert.Equal("+OK\r\n"u8.ToArray(), await client.ReceiveExactlyAsync(5));

        await client.SendAsync(Encoding.ASCII.GetBytes("*9\r\n$4\r\nMGET\r\n" + string.Concat(Enumerable.Repeat("$1\r\nk\r\n", Keys))));

        var bulk = Encoding.ASCII.GetBytes($"${Value}\r\n");
        Assert.Equal("*8\r\n"u8.ToArray(), await client.ReceiveExactlyAsync(4));
        for (var i = 0; i < Keys; i++)
        {
            Assert.Equal(bulk, await client.ReceiveExactlyAsync(bulk.Length));
            Assert.Equal(value, await client.ReceiveExactlyAsync(Value));
            Assert.Equal("\r\n"u8.ToArray(), await client.ReceiveExactlyAsync(2));
        }

        Assert.Empty(host.Errors);
    }

    [Fact]
    public async Task AReplyOfManyMessagesPastTheHighWaterMarkArrivesWholeOverTls()
    {
        // 128 frames of 256 KiB in one reply (32 MiB), more than the kernel's buffers hold, to a client that reads only
        // once it is all written: most of it is written while a flush through TLS (a stream) waits, and must not be lost.
        const int Frames = 128;
        const int Size = 256 * 1024;
        var written = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(TransportKind.Sockets, listen =>
        {
            listen.UseTls(tls => tls.ServerCertificate = TestCertificates.Server);
            listen.UseProtocol(EchoProtocol.CreateReader(), EchoProtocol.Writer, new FramesHandler(Frames, Size, written), options => options.MaxBufferedOutput = null);
        });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(host.EndPoint);
        await using var network = new NetworkStream(socket);
        await using var tls = new SslStream(network, leaveInnerStreamOpen: true, static (_, _, _, _) => true);
        using var cts = new CancellationTokenSource(TestClient.Timeout);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, cts.Token);
        await tls.WriteAsync(TestClient.Frame([1]), cts.Token);

        var mostHeld = await written.Task.WaitAsync(TestClient.Timeout);
        Assert.True(mostHeld > 4 * ProtocolDefaults.OutputHighWaterMark, $"the reply should have outrun the transport: {mostHeld}");

        var header = new byte[4];
        var body = new byte[Size];
        for (var i = 0; i < Frames; i++)
        {
            await tls.ReadExactlyAsync(header, cts.Token);
            Assert.Equal(Size, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header));
            await tls.ReadExactlyAsync(body, cts.Token);
            Assert.True(Array.TrueForAll(body, b => b == (byte)i), $"frame {i} holds another frame's bytes");
        }

        Assert.Empty(host.Errors);
    }

    // Answers a message with many frames through Write, each filled with its index, and reports the most held.
    private sealed class FramesHandler(int frames, int size, TaskCompletionSource<long> written) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            long mostHeld = 0;
            var body = new byte[size];
            for (var i = 0; i < frames; i++)
            {
                Array.Fill(body, (byte)i);
                session.Write(new ReadOnlySequence<byte>(body));
                mostHeld = Math.Max(mostHeld, session.Writer.BufferedBytes);
            }

            written.TrySetResult(mostHeld);
            return default;
        }
    }

    // Answers every message with one big response through Write, and notes the most the writer held after a write.
    private sealed class WritingHandler(int size) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly ReadOnlySequence<byte> _response = new(new byte[size]);
        private readonly TaskCompletionSource<int> _full = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _handled;

        public Task<int> Full => _full.Task;

        public long MostHeld { get; private set; }

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            _handled++;
            session.Write(_response);
            MostHeld = Math.Max(MostHeld, session.Writer.BufferedBytes);
            if (!session.Writer.IsWritable)
            {
                _full.TrySetResult(_handled);
            }

            return default;
        }
    }

    // Echoes every message; after a message [1], pushes big messages from another thread until the connection closes
    // (or, with a limit, that many), with Write or with WriteAsync.
    private sealed class PushingHandler(int size, bool awaitEachWrite, int limit = int.MaxValue) : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        private readonly ReadOnlySequence<byte> _push = new(new byte[size]);
        private readonly TaskCompletionSource<int> _full = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<Exception?> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<int> Full => _full.Task;

        public Task<Exception?> PushesEnded => _ended.Task;

        public long MostHeld { get; private set; }

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            session.Write(message);
            if (message.FirstSpan[0] == 1)
            {
                _ = Task.Run(() => PushAsync(session));
            }

            return default;
        }

        private async Task PushAsync(ProtocolSession<ReadOnlySequence<byte>> session)
        {
            try
            {
                for (var pushed = 1; pushed <= limit; pushed++)
                {
                    if (awaitEachWrite)
                    {
                        var write = session.WriteAsync(_push);
                        MostHeld = Math.Max(MostHeld, session.Writer.BufferedBytes);
                        if (!write.IsCompleted)
                        {
                            _full.TrySetResult(pushed);
                        }

                        await write;
                    }
                    else
                    {
                        session.Write(_push);
                    }
                }

                _ended.TrySetResult(null);
            }
            catch (Exception ex)
            {
                _ended.TrySetResult(ex);
            }
        }
    }
}
