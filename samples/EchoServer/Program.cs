using EchoServer;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

// dotnet run -c Release --project samples/EchoServer -- --Url tcp://127.0.0.1:7000 --MaxFrameLength 1048576
var builder = Host.CreateApplicationBuilder(args);
var url = builder.Configuration["Url"] ?? EchoProtocol.DefaultUrl;
var maxFrameLength = builder.Configuration.GetValue("MaxFrameLength", EchoProtocol.DefaultMaxFrameLength);

builder.AddPipelineServer(server => server.Listen(url, endpoint => endpoint.UseEcho(maxFrameLength)));

await builder.Build().RunAsync();
