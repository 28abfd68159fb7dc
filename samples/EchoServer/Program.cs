using EchoServer;
using Microsoft.Extensions.Hosting;

// dotnet run -c Release --project samples/EchoServer -- --Url tcp://127.0.0.1:7000 --MaxFrameLength 1048576
await EchoServerHost.Create(args).RunAsync();
