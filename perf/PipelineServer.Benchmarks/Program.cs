using BenchmarkDotNet.Running;

// dotnet run -c Release --project perf/PipelineServer.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(PipelineServer.Benchmarks.BenchmarkConfig).Assembly).Run(args);
