using KeyValueServer;
using Microsoft.Extensions.Hosting;

// dotnet run -c Release --project samples/KeyValueServer -- --Url tcp://127.0.0.1:6380
// then: redis-cli -p 6380 ping; redis-benchmark -p 6380 -t set,get -n 100000 -q
await KeyValueHost.Create(args).RunAsync();
