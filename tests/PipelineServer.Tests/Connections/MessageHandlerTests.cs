using System.Text;
using EchoServer;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;
using PipelineServer.Testing;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Connections;

/// <summary>The read-handle-write loop, driven in memory through the Testing harness (no Kestrel, no sockets).</summary>
public class MessageHandlerTests
{
    private static readonly DelimiterFrameReader s_lines = DelimiterFrameReader.Lines();
    private static readonly DelimiterFrameWriter s_lineWriter = new("\n"u8);

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    private static string Text(ReadOnlySequence<byte> bytes) => Encoding.ASCII.GetString(bytes);

    [Fact]
    public async Task ResponsesToAPipelinedBatchLeaveInOneFlush()
    {
        var flushes = new FlushCounter();
        await using var server = new EmbeddedServer(b => b
            .Use(flushes.Middleware)
            .UseProtocol(s_lines, s_lineWriter, new LineHandler()));
        await using var connection = await server.ConnectAsync();

        await connection.SendAsync(Ascii("a\nb\nc\nd\n"));

        Assert.Equal(Ascii("A\nB\nC\nD\n"), await connection.ReceiveExactlyAsync(8));
        Assert.Equal(1, flushes.Count);
    }

    [Fact]
    public async Task CloseAnswersWhatWasWrittenThenEndsTheConnectionWithoutHandlingMore()
    {
        var handler = new LineHandler();
        await using var server = new EmbeddedServer(b => b.UseProtocol(s_lines, s_lineWriter, handler));
        await using var connection = await server.ConnectAsync();

        await connection.SendAsync(Ascii("one\nquit\nnever\n"));

        Assert.Equal(Ascii("ONE\nBYE\n"), await connection.ReceiveToEndAsync());
        await connection.Completion;
        Assert.Equal(["one", "quit"], handler.Seen);
    }

    [Fact]
    public async Task AProtocolErrorFlushesEarlierResponsesLetsTheHandlerReplyThenCloses()
    {
        var handler = new LineHandler();
        var logs = new TestLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        await using var server = new EmbeddedServer(
            b => b.UseProtocol(new DelimiterFrameReader("\n"u8, maxFrameLength: 8), s_lineWriter, handler),
            new EmbeddedServerOptions { LoggerFactory = loggerFactory });
        await using var connection = await server.ConnectAsync();

        await connection.SendAsync(Ascii("ok\nthis line is too long\n"));

        Assert.Equal(Ascii("OK\n-ERR MessageTooLarge\n"), await connection.ReceiveToEndAsync());
        await connection.Completion;
        var error = Assert.IsType<ProtocolException>(handler.DisconnectError);
        Assert.Equal(ProtocolErrorKind.MessageTooLarge, error.Kind);
        // A peer's fault: logged at Debug only (summarised by a Warning: LogFloodTests).
        var logged = Assert.Single(logs.Records, static r => r.EventId.Name == "ProtocolError");
        Assert.Equal(LogLevel.Debug, logged.Level);
    }

    [Fact]
    public async Task AHandlerExceptionIsLoggedOnceAndClosesOnlyThatConnection()
    {
        var logs = new TestLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        await using var server = new EmbeddedServer(
            b => b.UseProtocol(s_lines, s_lineWriter, new LineHandler()),
            new EmbeddedServerOptions { LoggerFactory = loggerFactory });
        await using var failing = await server.ConnectAsync();
        await using var healthy = await server.ConnectAsync();

        await failing.SendAsync(Ascii("first\nboom\nlater\n"));

        Assert.Equal(Ascii("FIRST\n"), await failing.ReceiveToEndAsync());
        await failing.Completion;
        var error = Assert.Single(logs.Records, static r => r.Level >= LogLevel.Error);
        Assert.Equal("HandlerError", error.EventId.Name);
        Assert.IsType<InvalidOperationException>(error.Exception);
        await healthy.SendAsync(Ascii("still\n"));
        Assert.Equal(Ascii("STILL\n"), await healthy.ReceiveExactlyAsync(6));
    }

    [Fact]
    public async Task WritingToAClosedConnectionThrowsConnectionClosedNotSomethingElse()
    {
        var handler = new LineHandler();
        await using var server = new EmbeddedServer(b => b.UseProtocol(s_lines, s_lineWriter, handler));
        var connection = await server.ConnectAsync();
        await connection.SendAsync(Ascii("hi\n"));
        await connection.ReceiveExactlyAsync(3);
        var session = handler.LastSession!;

        await connection.DisposeAsync();
        await connection.Completion.WaitAsync(TestClient.Timeout);

        Assert.Throws<ConnectionClosedException>(() => session.Write(new ReadOnlySequence<byte>(Ascii("late"))));
        await Assert.ThrowsAsync<ConnectionClosedException>(async () => await session.WriteAsync(new ReadOnlySequence<byte>(Ascii("late"))));
        Assert.Null(handler.DisconnectError);
    }

    [Fact]
    public async Task ADrainRequestAnswersEveryBufferedMessageThenCloses()
    {
        var handler = new LineHandler { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        await using var server = new EmbeddedServer(b => b.UseProtocol(s_lines, s_lineWriter, handler));
        await using var connection = await server.ConnectAsync();

        await connection.SendAsync(Ascii("wait\nb\nc\n"));
        await handler.Waiting.Task.WaitAsync(TestClient.Timeout);
        connection.RequestClose();
        handler.Gate.SetResult();

        Assert.Equal(Ascii("WAIT\nB\nC\n"), await connection.ReceiveToEndAsync());
        Assert.Equal(["wait", "b", "c"], handler.Seen);
    }

    [Fact]
    public async Task EachConnectionCanHaveItsOwnServiceScope()
    {
        var services = new ServiceCollection().AddScoped<PerConnection>().BuildServiceProvider();
        var handler = new ScopeHandler();
        await using var server = new EmbeddedServer(
            b => b.UseProtocol(s_lines, s_lineWriter, handler, o => o.CreateServiceScope = true),
            new EmbeddedServerOptions { Services = services });

        var first = await server.ConnectAsync();
        await using var second = await server.ConnectAsync();
        await first.SendAsync(Ascii("x\nx\n"));
        await second.SendAsync(Ascii("x\n"));
        var a = await first.ReceiveExactlyAsync(4);
        var b = await second.ReceiveExactlyAsync(2);

        Assert.Equal(a[..2], a[2..]);
        Assert.NotEqual(a[..2], b);
        await first.DisposeAsync();
        await first.Completion.WaitAsync(TestClient.Timeout);
        Assert.True(handler.Scoped[first.ServerConnection.ConnectionId].Disposed);
        Assert.False(handler.Scoped[second.ServerConnection.ConnectionId].Disposed);
    }

    [Fact]
    public async Task TheHarnessLetsATestControlTimeForMiddleware()
    {
        var time = new FakeTimeProvider();
        await using var server = new EmbeddedServer(
            b => b.Use(next => MaxLifetime(next, b.ApplicationServices.GetRequiredService<TimeProvider>())).UseEcho(),
            new EmbeddedServerOptions { TimeProvider = time });
        await using var connection = await server.ConnectAsync();
        await connection.SendAsync(TestClient.Frame([5]));
        Assert.Equal(TestClient.Frame([5]), await connection.ReceiveExactlyAsync(5));

        time.Advance(TimeSpan.FromSeconds(29));
        await connection.SendAsync(TestClient.Frame([6]));
        Assert.Equal(TestClient.Frame([6]), await connection.ReceiveExactlyAsync(5));
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Empty(await connection.ReceiveToEndAsync());
    }

    // A toy middleware written against the TimeProvider in the application services, as real timeouts are: it asks the
    // connection to close gracefully once it has lived 30 seconds.
    private static ConnectionDelegate MaxLifetime(ConnectionDelegate next, TimeProvider time) => async connection =>
    {
        var lifetime = connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()!;
        await using var timer = time.CreateTimer(static state => ((Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature)state!).RequestClose(), lifetime, TimeSpan.FromSeconds(30), Timeout.InfiniteTimeSpan);
        await next(connection);
    };

    private sealed class LineHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public List<string> Seen { get; } = [];

        public TaskCompletionSource? Gate { get; init; }

        public TaskCompletionSource Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ProtocolSession<ReadOnlySequence<byte>>? LastSession { get; private set; }

        public Exception? DisconnectError { get; private set; }

        public async ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            LastSession = session;
            var text = Text(message);
            lock (Seen)
            {
                Seen.Add(text);
            }

            switch (text)
            {
                case "quit":
                    session.Write(new ReadOnlySequence<byte>(Ascii("BYE")));
                    session.Close();
                    return;
                case "boom":
                    throw new InvalidOperationException("handler bug");
                case "wait" when Gate is not null:
                    Waiting.TrySetResult();
                    await Gate.Task;
                    break;
            }

            session.Write(new ReadOnlySequence<byte>(Ascii(text.ToUpperInvariant())));
        }

        public ValueTask OnProtocolErrorAsync(ProtocolSession<ReadOnlySequence<byte>> session, ProtocolException error)
        {
            session.Write(new ReadOnlySequence<byte>(Ascii("-ERR " + error.Kind)));
            return default;
        }

        public ValueTask OnDisconnectedAsync(ProtocolSession<ReadOnlySequence<byte>> session, Exception? error)
        {
            DisconnectError = error;
            return default;
        }
    }

    private sealed class PerConnection : IDisposable
    {
        private static int s_next;

        public byte Id { get; } = (byte)Interlocked.Increment(ref s_next);

        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    private sealed class ScopeHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
    {
        public System.Collections.Concurrent.ConcurrentDictionary<string, PerConnection> Scoped { get; } = new();

        public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> message)
        {
            var scoped = session.Services.GetRequiredService<PerConnection>();
            Scoped[session.ConnectionId] = scoped;
            session.Write(new ReadOnlySequence<byte>([scoped.Id]));
            return default;
        }
    }

    private sealed class FlushCounter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public ConnectionDelegate Middleware(ConnectionDelegate next) => connection =>
        {
            connection.Transport = new CountingDuplex(connection.Transport, this);
            return next(connection);
        };

        private sealed class CountingDuplex(System.IO.Pipelines.IDuplexPipe inner, FlushCounter counter) : System.IO.Pipelines.IDuplexPipe
        {
            public System.IO.Pipelines.PipeReader Input => inner.Input;

            public System.IO.Pipelines.PipeWriter Output { get; } = new CountingWriter(inner.Output, counter);
        }

        private sealed class CountingWriter(System.IO.Pipelines.PipeWriter inner, FlushCounter counter) : System.IO.Pipelines.PipeWriter
        {
            public override void Advance(int bytes) => inner.Advance(bytes);

            public override void CancelPendingFlush() => inner.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => inner.Complete(exception);

            public override ValueTask<System.IO.Pipelines.FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            {
                Interlocked.Increment(ref counter._count);
                return inner.FlushAsync(cancellationToken);
            }

            public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        }
    }
}
