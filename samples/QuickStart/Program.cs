using System.Buffers;
using Microsoft.Extensions.Hosting;
using PipelineServer;
using PipelineServer.Protocols.Framing;

var builder = Host.CreateApplicationBuilder(args);
builder.AddPipelineServer(server => server.Listen("tcp://127.0.0.1:7000", endpoint => endpoint
    .UseConnectionLimitPerIp(RecommendedLimits.MaxConnectionsPerIp) // no one address takes every connection
    .UseTimeouts(RecommendedLimits.SetTimeouts)                     // no peer holds a connection for ever
    .UseProtocol(
        new LengthFieldFrameReader(lengthFieldLength: 4, initialBytesToStrip: 4), // codec: 4-byte length, payload
        new LengthFieldPrepender(lengthFieldLength: 4),
        new EchoHandler())));
await builder.Build().RunAsync();

sealed class EchoHandler : IMessageHandler<ReadOnlySequence<byte>, ReadOnlySequence<byte>>
{
    // One instance serves every connection; per-connection state lives on the session.
    public ValueTask OnMessageAsync(ProtocolSession<ReadOnlySequence<byte>> session, ReadOnlySequence<byte> frame)
    {
        session.Write(frame); // frame is a slice of the receive buffer; replies are flushed once per batch
        return default;
    }
}
