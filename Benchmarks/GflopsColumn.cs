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

/// <summary>
/// A column showing an amount of work per invocation (named by one of the case's parameters) over the mean time, in units
/// of 1e9 per second; "-" where no parameter names the amount. <see cref="GflopsColumn"/> and <see cref="BandwidthColumn"/>
/// differ only in the amount and their labels.
/// </summary>
public abstract class RateColumn(string id, string columnName, int priority, string legend) : IColumn
{
    /// <summary>The amount of work of one invocation of <paramref name="benchmarkCase"/>, or null when none of its parameters carries one.</summary>
    protected abstract double? AmountOf(BenchmarkCase benchmarkCase);

    /// <inheritdoc/>
    public string Id => id;
    /// <inheritdoc/>
    public string ColumnName => columnName;
    /// <inheritdoc/>
    public bool AlwaysShow => true;
    /// <inheritdoc/>
    public ColumnCategory Category => ColumnCategory.Custom;
    /// <inheritdoc/>
    public int PriorityInCategory => priority;
    /// <inheritdoc/>
    public bool IsNumeric => true;
    /// <inheritdoc/>
    public UnitType UnitType => UnitType.Dimensionless;
    /// <inheritdoc/>
    public string Legend => legend;

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    /// <inheritdoc/>
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var amount = AmountOf(benchmarkCase);
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean; // nanoseconds per invocation
        if (amount is null || mean is null || mean <= 0) return "-";
        return (amount.Value / mean.Value).ToString("F1", style.CultureInfo);
    }

    /// <inheritdoc/>
    public bool IsAvailable(Summary summary) => true;
    /// <inheritdoc/>
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    /// <inheritdoc/>
    public override string ToString() => ColumnName;
}

/// <summary>Shows Flops / mean time in GFLOP/s for benchmarks with an <see cref="IHasFlops"/> parameter.</summary>
public sealed class GflopsColumn() : RateColumn(nameof(GflopsColumn), "GFLOP/s", 0,
    "Floating-point operations per invocation (IHasFlops parameter) divided by the mean time, in 1e9/s")
{
    /// <summary>The column, added to every benchmark class by Program.</summary>
    public static readonly GflopsColumn Instance = new();

    /// <summary>The flop count of a benchmark case, or null when none of its parameters carries one.</summary>
    public static double? FlopsOf(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<IHasFlops>()
            .Select(f => (double?)f.FlopsFor(benchmarkCase.Descriptor.WorkloadMethod.Name)).FirstOrDefault();

    /// <inheritdoc/>
    protected override double? AmountOf(BenchmarkCase benchmarkCase) => FlopsOf(benchmarkCase);
}
