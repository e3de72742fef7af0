// NumericGuard: an IModuleObserver that scans every forward output and every backward dX for NaN and ±Inf and stops at the
// first one. Observers are notified when a module's pass completes, and a child completes before its parent, so the first
// notification that sees a non-finite value names the innermost module (in execution order) that produced it. Forward:
// the module's output; backward: the dX it returned. The message also says whether the module's input (x, or dY) was
// already non-finite, which points at the data or at an earlier step (a diverged parameter) rather than the layer.
// Cost: one pass over each activation and input gradient (a copy first for tensors that are not in host memory).
using ConvEngine.NN;

namespace ConvEngine.Diagnostics;

/// <summary>The forward or backward pass in which a <see cref="NonFiniteException"/> was detected.</summary>
public enum NumericPhase
{
    /// <summary>A module's forward output.</summary>
    Forward,
    /// <summary>A module's backward result dX.</summary>
    Backward,
}

/// <summary>Thrown by <see cref="NumericGuard"/> when a module produced NaN or infinity.</summary>
public sealed class NonFiniteException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="moduleName">The module's full name (<c>(root)</c> for the root).</param>
    /// <param name="moduleType">The module's type name.</param>
    /// <param name="phase">The pass.</param>
    /// <param name="nanCount">How many NaN values the tensor held.</param>
    /// <param name="infCount">How many infinite values the tensor held.</param>
    /// <param name="firstIndex">The flat index of the first non-finite value.</param>
    /// <param name="message">The full message.</param>
    public NonFiniteException(string moduleName, string moduleType, NumericPhase phase, int nanCount, int infCount, int firstIndex, string message)
        : base(message)
    {
        ModuleName = moduleName;
        ModuleType = moduleType;
        Phase = phase;
        NanCount = nanCount;
        InfCount = infCount;
        FirstIndex = firstIndex;
    }

    /// <summary>The full name of the first module (in execution order) whose result was not finite.</summary>
    public string ModuleName { get; }
    /// <summary>The module's type name (<c>Conv2d</c>, <c>Linear</c>, ...).</summary>
    public string ModuleType { get; }
    /// <summary>Forward (the output) or Backward (dX).</summary>
    public NumericPhase Phase { get; }
    /// <summary>The number of NaN values in the offending tensor.</summary>
    public int NanCount { get; }
    /// <summary>The number of infinite values in the offending tensor.</summary>
    public int InfCount { get; }
    /// <summary>The flat (row-major) index of the first non-finite value.</summary>
    public int FirstIndex { get; }
}

/// <summary>
/// Stops training at the first NaN or infinity: attach it with <c>model.Observe(new NumericGuard())</c> and every module's
/// forward output and backward dX is checked; the first non-finite tensor throws <see cref="NonFiniteException"/> naming
/// the module, the phase, and whether the module's own input was already non-finite.
/// </summary>
public sealed class NumericGuard : IModuleObserver
{
    /// <summary>How many tensors were checked (outputs and input gradients).</summary>
    public long TensorsChecked { get; private set; }

    /// <inheritdoc/>
    public void AfterForward(Module module, Tensor input, Tensor output) => Check(module, NumericPhase.Forward, input, output);

    /// <inheritdoc/>
    public void AfterBackward(Module module, Tensor dY, Tensor dX) => Check(module, NumericPhase.Backward, dY, dX);

    private void Check(Module module, NumericPhase phase, Tensor input, Tensor result)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(result);
        TensorsChecked++;
        var (nan, inf, first) = Scan(result);
        if (nan == 0 && inf == 0) return;
        var (inNan, inInf, _) = input is null ? (0, 0, -1) : Scan(input);
        string name = module.Name.Length == 0 ? "(root)" : module.Name;
        string what = phase == NumericPhase.Forward ? "forward output" : "backward result dX";
        string inName = phase == NumericPhase.Forward ? "input x" : "incoming gradient dY";
        string origin = inNan + inInf == 0
            ? $"its {inName} was finite, so this module produced them"
            : $"its {inName} already held {inNan} NaN and {inInf} Inf values (look at the data, the loss, or an earlier step's parameters)";
        throw new NonFiniteException(name, module.GetType().Name, phase, nan, inf, first,
            $"Non-finite values in the {what} of {module.GetType().Name} '{name}' ({phase}): {nan} NaN and {inf} Inf of {result.Length} " +
            $"in {result.ShapeString}, the first at flat index {first}; {origin}.");
    }

    private static (int Nan, int Inf, int First) Scan(Tensor t)
    {
        ReadOnlySpan<float> v = t.Buffer is HostBuffer ? t.AsSpan() : t.ToArray();
        int nan = 0, inf = 0, first = -1;
        for (int i = 0; i < v.Length; i++)
        {
            float f = v[i];
            if (float.IsFinite(f)) continue;
            if (float.IsNaN(f)) nan++; else inf++;
            if (first < 0) first = i;
        }
        return (nan, inf, first);
    }
}
