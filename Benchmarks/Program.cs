// Benchmark entry point. Pick benchmarks on the command line, e.g.
//   dotnet run -c Release --project Benchmarks -- --filter '*Gemm*'
//   dotnet run -c Release --project Benchmarks -- --filter '*GemmBenchmarks.Gemm*' --job short
//   dotnet run -c Release --project Benchmarks -- --filter '*MicroKernel*' --job dry     (with disassembly, see GemmBenchmarks)
// Every benchmark class in this assembly is discoverable; the GFLOP/s column is added globally (see GflopsColumn.cs).
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace ConvEngine.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        var config = DefaultConfig.Instance.AddColumn(GflopsColumn.Instance);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
