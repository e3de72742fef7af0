using NUnit.Framework;

namespace ConvEngine.Tests;

/// <summary>Helpers shared by the tests: seeded random data and element-wise comparison with a readable failure.</summary>
public static class TestUtil
{
    public static float[] RandomArray(Random rng, int length, float lo = -1f, float hi = 1f)
    {
        var a = new float[length];
        for (int i = 0; i < a.Length; i++) a[i] = lo + (float)rng.NextDouble() * (hi - lo);
        return a;
    }

    public static Tensor RandomTensor(Random rng, IDevice device, params int[] shape) =>
        Tensor.FromArray(device, RandomArray(rng, shape.Aggregate(1, (p, d) => p * d)), shape);

    public static Tensor RandomTensor(Random rng, params int[] shape) => RandomTensor(rng, CpuDevice.Default, shape);

    /// <summary>Asserts |a − e| ≤ atol + rtol·|e| for every element, reporting the worst one.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double rtol = 1e-4, double atol = 1e-5, string what = "")
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), $"{what}: length");
        int worst = -1; double worstExcess = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = actual[i], e = expected[i];
            if (double.IsNaN(a) != double.IsNaN(e)) Assert.Fail($"{what}: NaN mismatch at {i}: actual {a}, expected {e}");
            if (double.IsNaN(a)) continue;
            if (double.IsInfinity(e) || double.IsInfinity(a)) { if (a != e) Assert.Fail($"{what}: at {i}: actual {a}, expected {e}"); continue; }
            double excess = Math.Abs(a - e) - (atol + rtol * Math.Abs(e));
            if (excess > worstExcess) { worstExcess = excess; worst = i; }
        }
        if (worst >= 0)
            Assert.Fail($"{what}: mismatch at index {worst} of {actual.Length}: actual {actual[worst]:G9}, expected {expected[worst]:G9} (rtol {rtol}, atol {atol})");
    }

    public static void AssertClose(Tensor actual, Tensor expected, double rtol = 1e-4, double atol = 1e-5, string what = "")
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), $"{what}: shape");
        AssertClose(actual.ToArray(), expected.ToArray(), rtol, atol, what);
    }
}
