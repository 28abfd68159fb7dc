using System.Text;
using AuthHandshake;
using EchoServer;
using Microsoft.Extensions.Hosting;

// dotnet run -c Release --project samples/AuthHandshake -- --Url tcp://127.0.0.1:7001 --Secret change-me
// The echo protocol, but only for clients that know the secret (see SharedSecretHandshake.UseSharedSecretHandshake on
// ClientBuilder for the client side).
var builder = Host.CreateApplicationBuilder(args);
var url = builder.Configuration["Url"] ?? "tcp://127.0.0.1:7001";
var secret = Encoding.UTF8.GetBytes(builder.Configuration["Secret"] ?? throw new InvalidOperationException("Set --Secret."));
builder.AddPipelineServer(server => server.Listen(url, endpoint => endpoint
    .UseSharedSecretHandshake(secret)
    .UseEcho()));
await builder.Build().RunAsync();
