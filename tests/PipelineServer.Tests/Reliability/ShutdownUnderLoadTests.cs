using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using EchoServer;
using PipelineServer.Tests.Infrastructure;

namespace PipelineServer.Tests.Reliability;

// SIGTERM to the echo sample (a process, as a service manager stops it) while clients pipeline requests as fast as
// they can. The server logs, per connection it drains, the request bytes it accepted and the responses it wrote; every
// client checks its responses are its own requests in order and counts them. Nothing accepted may go unanswered, and
// nothing answered may be lost on the way (a close with unread input sends a reset, which discards unsent data).
public partial class ShutdownUnderLoadTests
{
    private const int Connections = 8;
    private const int FrameLength = 12; // 4-byte length + 8-byte sequence number
    private const int Batch = 64;
    private const int Window = 16 * Batch;

    [Fact]
    public async Task SigtermDuringPipelinedLoadAnswersEveryAcceptedRequestAndLosesNone()
    {
        await using var server = await SampleProcess.StartAsync(typeof(EchoProtocol).Assembly, null, "--Logging:LogLevel:PipelineServer.Protocol", "Debug");
        var clients = new List<PipelinedClient>();
        for (var i = 0; i < Connections; i++)
        {
            clients.Add(await PipelinedClient.StartAsync(server));
        }

        try
        {
            foreach (var client in clients)
            {
                await client.Warm.WaitAsync(TestClient.Timeout);
            }

            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync());

            var received = new List<long>();
            foreach (var client in clients)
            {
                received.Add(await client.Receiving.WaitAsync(TestClient.Timeout));
            }

            // The server's account of each connection it drained.
            var drained = Drained().Matches(server.Log).Select(static m => (BytesIn: long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), MessagesOut: long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
            Assert.Equal(Connections, drained.Count);
            foreach (var (bytesIn, messagesOut) in drained)
            {
                Assert.Equal(bytesIn, messagesOut * FrameLength); // every request accepted was answered
            }

            // Every answer reached its client: the same counts, connection for connection.
            Assert.Equal(drained.Select(static d => d.MessagesOut).Order(), received.Order());
            Assert.All(received, static r => Assert.True(r >= 2000));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private sealed class PipelinedClient : IDisposable
    {
        private readonly Socket _socket;
        private readonly TaskCompletionSource _warm = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // At most this many requests without a response, as a pipelining client keeps (redis-benchmark -P, a client's
        // in-flight limit): when the server stops answering, the client stops sending.
        private readonly SemaphoreSlim _window = new(Window);

        private PipelinedClient(Socket socket)
        {
            _socket = socket;
            _ = Task.Run(SendAsync);
            Receiving = Task.Run(ReceiveAsync);
        }

        public Task Warm => _warm.Task;

        public string Ended { get; private set; } = "FIN";


        // Completes with the number of correct responses once the server has closed the connection.
        public Task<long> Receiving { get; }

        public static async Task<PipelinedClient> StartAsync(SampleProcess server)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(server.EndPoint);
            return new PipelinedClient(socket);
        }

        public void Dispose()
        {
            _socket.Dispose();
            _window.Dispose();
        }

        private async Task SendAsync()
        {
            var batch = new byte[Batch * FrameLength];
            long sequence = 0;
            try
            {
                while (true)
                {
                    for (var i = 0; i < Batch; i++)
                    {
                        await _window.WaitAsync();
                    }

                    for (var i = 0; i < Batch; i++)
                    {
                        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(i * FrameLength), 8);
                        BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan((i * FrameLength) + 4), sequence++);
                    }

                    await _socket.SendAsync(batch);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The server closed the connection.
            }
        }

        private async Task<long> ReceiveAsync()
        {
            var buffer = new byte[64 * 1024];
            var filled = 0;
            long expected = 0;
            try
            {
                while (true)
                {
                    var read = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
                    if (read == 0)
                    {
                        break;
                    }

                    filled += read;
                    var offset = 0;
                    for (; filled - offset >= FrameLength; offset += FrameLength)
                    {
                        Assert.Equal(8, BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(offset)));
                        Assert.Equal(expected, BinaryPrimitives.ReadInt64BigEndian(buffer.AsSpan(offset + 4)));
                        expected++;
                        _window.Release();
                    }

                    buffer.AsSpan(offset, filled - offset).CopyTo(buffer);
                    filled -= offset;
                    if (expected >= 2000)
                    {
                        _warm.TrySetResult();
                    }
                }
            }
            catch (SocketException e)
            {
                // A reset: counted below like a close; the comparison with the server's count shows any loss.
                Ended = e.SocketErrorCode.ToString();
            }

            Assert.True(filled == 0, $"A response cut short ({filled} bytes of it, after {expected} whole ones; ended by {Ended})."); // no half response
            return expected;
        }
    }

    [GeneratedRegex(@"closed for server shutdown, after answering the messages it had received \((\d+) bytes in, (\d+) messages out\)")]
    private static partial Regex Drained();
}
