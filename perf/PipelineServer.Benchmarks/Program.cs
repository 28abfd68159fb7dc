using BenchmarkDotNet.Running;
using PipelineServer.Benchmarks;

// dotnet run -c Release --project perf/PipelineServer.Benchmarks -- --filter '*'
// dotnet run -c Release --project perf/PipelineServer.Benchmarks -- compare-client-transports [rounds] [seconds]
if (args.Length > 0 && args[0] == "compare-client-transports")
{
    return await ClientTransportComparison.RunAsync(args);
}

BenchmarkSwitcher.FromAssembly(typeof(BenchmarkConfig).Assembly).Run(args);
return 0;
