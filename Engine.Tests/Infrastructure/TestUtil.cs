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

    /// <summary>
    /// Runs a batch kernel on 1, 2 and 3 threads into an output of one image before, <paramref name="images"/> images and
    /// one image after (<paramref name="imageLength"/> floats each), pre-filled with NaN: asserts the batch close to
    /// <paramref name="expected"/>, the images around it untouched, and the same bits on every thread count.
    /// <paramref name="run"/>(device, output) must write images 1..images of the output.
    /// </summary>
    public static void AssertBatchKernel(Action<CpuDevice, float[]> run, int images, int imageLength, float[] expected, string what)
    {
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var output = new float[(images + 2) * imageLength];
            Array.Fill(output, float.NaN);   // overwritten, not accumulated into: a NaN left in the batch would show
            run(new CpuDevice(threads), output);
            var batch = output.AsSpan(imageLength, images * imageLength).ToArray();
            AssertClose(batch, expected, 1e-4, 1e-5, $"{what}, {threads} threads");
            Assert.That(output.Take(imageLength).Concat(output.Skip((images + 1) * imageLength)).All(float.IsNaN), Is.True,
                        $"other images untouched: {what}");
            if (first is null) first = batch;
            else Assert.That(batch, Is.EqualTo(first), $"the same bits on {threads} threads as on one: {what}");
        }
    }

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
