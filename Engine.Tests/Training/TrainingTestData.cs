namespace ConvEngine.Tests.Training;

/// <summary>
/// A tiny deterministic classification set: 1x6x6 images of three classes (a bright row, a bright column, a bright
/// diagonal at a random position) plus noise. Enough for a two-layer network to learn in a few epochs.
/// </summary>
internal static class TrainingTestData
{
    public const int Side = 6, Features = Side * Side, Classes = 3;

    public static List<(Tensor Images, int[] Labels)> Batches(IDevice device, int count, int batchSize, int seed)
    {
        var rng = new Random(seed);
        var batches = new List<(Tensor, int[])>();
        for (int start = 0; start < count; start += batchSize)
        {
            int n = Math.Min(batchSize, count - start);
            var x = new float[n * Features];
            var y = new int[n];
            for (int i = 0; i < n; i++)
            {
                int label = (start + i) % Classes, pos = rng.Next(Side);
                y[i] = label;
                for (int r = 0; r < Side; r++)
                    for (int c = 0; c < Side; c++)
                    {
                        bool on = label switch { 0 => r == pos, 1 => c == pos, _ => r == c };
                        x[i * Features + r * Side + c] = (on ? 1f : 0f) + 0.3f * (float)(rng.NextDouble() - 0.5);
                    }
            }
            batches.Add((Tensor.FromArray(device, x, n, 1, Side, Side), y));
        }
        return batches;
    }
}
