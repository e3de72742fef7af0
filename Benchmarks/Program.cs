// Benchmark entry point. Pick benchmarks on the command line, e.g.
//   dotnet run -c Release --project Benchmarks -- --filter '*GemmBenchmarks*' --job short
//   dotnet run -c Release --project Benchmarks -- --filter '*MicroKernel*' --job short
// Every benchmark class in this assembly is discoverable; the GFLOP/s column is added globally (see GflopsColumn.cs).
//
// Benchmarks run in process (--inProcess is added unless given): BenchmarkDotNet's out-of-process toolchain looks for
// a project file named after the assembly (ConvEngine.Benchmarks.csproj) and cannot find Benchmarks.csproj.
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace ConvEngine.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        var config = DefaultConfig.Instance.AddColumn(GflopsColumn.Instance);
        if (!args.Any(a => a is "--inProcess" or "-i")) args = [.. args, "--inProcess"];
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
    }
}
