using System.Buffers;
using System.Net;
using System.Text;
using PipelineServer.Client;
using PipelineServer.Protocols;
using PipelineServer.Protocols.Framing;

// dotnet run -c Release --project samples/EchoClient -- [host] [port]   (start samples/EchoServer first)
var host = args.Length > 0 ? args[0] : "localhost";
var port = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 7000;

await using var client = await ProtocolClient.ConnectAsync(
    new ClientBuilder().UseSockets().Build(),
    new DnsEndPoint(host, port),
    new LengthFieldFrameReader(lengthFieldLength: 4, initialBytesToStrip: 4).Select(static frame => frame.ToArray()),
    new LengthFieldPrepender(lengthFieldLength: 4));

byte[] reply = await client.RequestAsync(new ReadOnlySequence<byte>("hello"u8.ToArray()));
Console.WriteLine($"echo: {Encoding.UTF8.GetString(reply)}");

// Many requests in flight at once; each gets its own response.
var replies = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i =>
    client.RequestAsync(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes($"request {i}"))).AsTask()));
Console.WriteLine($"{replies.Length} pipelined requests answered; the last: {Encoding.UTF8.GetString(replies[^1])}");
