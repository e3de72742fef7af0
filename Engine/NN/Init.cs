namespace ConvEngine.NN;

/// <summary>Weight initialisation as PyTorch's defaults, drawn from a seeded generator.</summary>
public static class Init
{
    /// <summary>
    /// PyTorch's default for Conv and Linear weights: kaiming_uniform_(a = √5), which is U(−b, b) with b = 1/√fanIn;
    /// biases use the same bound.
    /// </summary>
    /// <param name="values">The values to fill.</param>
    /// <param name="fanIn">Inputs per output (Cin/groups·KH·KW for a convolution, in-features for a linear layer).</param>
    /// <param name="rng">The generator.</param>
    public static void KaimingUniform(Span<float> values, int fanIn, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        double bound = fanIn > 0 ? 1.0 / Math.Sqrt(fanIn) : 0;
        for (int i = 0; i < values.Length; i++) values[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
    }

    /// <summary>A generator for <paramref name="seed"/>, or an unseeded one when null.</summary>
    public static Random Generator(int? seed) => seed is int s ? new Random(s) : new Random();
}
