// A GFLOP/s column for BenchmarkDotNet.
//
// Convention (kept deliberately simple): a benchmark that wants the column takes a [Params]/[ParamsSource] value whose
// type implements IHasFlops (e.g. GemmShape below, or a conv-shape record in Conv2dBenchmarks). The column multiplies
// nothing itself: it divides that value's Flops (floating-point operations per benchmark invocation, e.g. 2·M·N·K
// for a GEMM) by the mean time per invocation. Benchmarks without such a parameter show "-".
// Program.cs adds the column to the global config, so every benchmark class gets it without attributes.
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace ConvEngine.Benchmarks;

/// <summary>Implemented by benchmark parameter values that know how many floating-point operations one invocation performs.</summary>
public interface IHasFlops
{
    /// <summary>Floating-point operations per benchmark invocation (a multiply-add counts as 2).</summary>
    double Flops { get; }

    /// <summary>Operations of one invocation of the benchmark method <paramref name="method"/> (for classes whose methods differ in work, such as forward and backward).</summary>
    double FlopsFor(string method) => Flops;
}

/// <summary>Shows Flops / mean time in GFLOP/s for benchmarks with an <see cref="IHasFlops"/> parameter.</summary>
public sealed class GflopsColumn : IColumn
{
    public static readonly GflopsColumn Instance = new();

    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Floating-point operations per invocation (IHasFlops parameter) divided by the mean time, in 1e9/s";

    /// <summary>The flop count of a benchmark case, or null when none of its parameters carries one.</summary>
    public static double? FlopsOf(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<IHasFlops>()
            .Select(f => (double?)f.FlopsFor(benchmarkCase.Descriptor.WorkloadMethod.Name)).FirstOrDefault();

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var flops = FlopsOf(benchmarkCase);
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean; // nanoseconds per invocation
        if (flops is null || mean is null || mean <= 0) return "-";
        return (flops.Value / mean.Value).ToString("F1", style.CultureInfo);
    }

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public override string ToString() => ColumnName;
}
