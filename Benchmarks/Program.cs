// Benchmark entry point. Pick benchmarks on the command line, e.g.
//   dotnet run -c Release --project Benchmarks -- --filter '*GemmBenchmarks*' --job short
//   dotnet run -c Release --project Benchmarks -- --filter '*MicroKernel*' --job short
// Every benchmark class in this assembly is discoverable; the GFLOP/s and GB/s columns are added globally (see
// GflopsColumn.cs and LayerBenchmarks.cs).
//
// The project file is named after the assembly (ConvEngine.Benchmarks.csproj) because BenchmarkDotNet's default
// out-of-process toolchain looks for it by that name. Add --inProcess for quick checks.
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace ConvEngine.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        var config = DefaultConfig.Instance.AddColumn(GflopsColumn.Instance, BandwidthColumn.Instance);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
