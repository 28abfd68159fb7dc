using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PipelineServer.LoadTest.Scenarios.Echo;

/// <summary>
/// The floor for framework overhead: the echo protocol as a minimal hand-written Kestrel <see cref="ConnectionHandler"/>
/// on a default Kestrel (no PipelineServer code at all): parse every whole frame in a read, copy it to the output, flush
/// once per read.
/// </summary>
internal static class BaselineEchoServer
{
    public static async Task<RunningServer> StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseConnectionHandler<Handler>()));
        var app = builder.Build();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var endPoint = new IPEndPoint(IPAddress.Loopback, new Uri(address).Port);
        return new RunningServer(endPoint, async () =>
        {
            await app.StopAsync();
            await app.DisposeAsync();
        });
    }

    private sealed class Handler : ConnectionHandler
    {
        private const int MaxPayload = 16 * 1024 * 1024;

        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            var input = connection.Transport.Input;
            var output = connection.Transport.Output;
            try
            {
                while (true)
                {
                    var result = await input.ReadAsync();
                    var buffer = result.Buffer;
                    var echoed = EchoWholeFrames(ref buffer, output);
                    if (echoed < 0)
                    {
                        return;
                    }

                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (echoed > 0 && (await output.FlushAsync()).IsCompleted)
                    {
                        return;
                    }

                    if (result.IsCompleted)
                    {
                        return;
                    }
                }
            }
            catch (ConnectionResetException)
            {
            }
            catch (ConnectionAbortedException)
            {
            }
        }

        // Copies every whole frame at the front of the buffer to the output; returns how many, or -1 for a bad length.
        private static int EchoWholeFrames(ref ReadOnlySequence<byte> buffer, System.IO.Pipelines.PipeWriter output)
        {
            Span<byte> header = stackalloc byte[4];
            var frames = 0;
            while (buffer.Length >= 4)
            {
                buffer.Slice(0, 4).CopyTo(header);
                var length = BinaryPrimitives.ReadInt32BigEndian(header);
                if ((uint)length > MaxPayload)
                {
                    return -1;
                }

                if (buffer.Length < 4 + length)
                {
                    break;
                }

                var frame = buffer.Slice(0, 4 + length);
                foreach (var segment in frame)
                {
                    output.Write(segment.Span);
                }

                frames++;
                buffer = buffer.Slice(frame.End);
            }

            return frames;
        }
    }
}
