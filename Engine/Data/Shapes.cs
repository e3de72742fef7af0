// Shapes: a built-in synthetic dataset of 28x28 grayscale images, (N, 1, 28, 28) in [0, 1], five classes:
//   0 circle (filled disk), 1 square (filled, rotated), 2 triangle (filled equilateral, rotated),
//   3 cross (plus sign, rotated), 4 ring (hollow circle).
// Each image: random centre, size (radius 5–10 px), rotation, foreground intensity 0.45–1, background level 0–0.15,
// anti-aliased by 4x4 supersampling, plus Gaussian pixel noise with a per-image std in [0, noise], clamped to [0, 1].
// Image i has label i mod 5 (exact class balance) and is a pure function of (seed, i): the first k images do not
// depend on count. Position and scale vary so much that a linear classifier cannot separate the classes perfectly,
// while the shapes' local features (corners, edges, hollow centre) are easy for a small CNN.
namespace ConvEngine.Data;

/// <summary>A deterministic synthetic dataset of geometric shapes for tests and demos that need no download.</summary>
public static class Shapes
{
    /// <summary>The class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["circle", "square", "triangle", "cross", "ring"];

    /// <summary>The image side in pixels.</summary>
    public const int Size = 28;

    private const int Sub = 4;

    /// <summary>Generates <paramref name="count"/> images (N, 1, 28, 28) in [0, 1]; image i has label i mod 5.</summary>
    /// <param name="count">Number of images (≥ 0).</param>
    /// <param name="seed">The seed; the same seed gives bitwise the same dataset.</param>
    /// <param name="noise">The largest per-image Gaussian noise std (each image draws its std uniformly in [0, noise]).</param>
    public static Dataset Generate(int count, int seed, float noise = 0.15f)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (!(noise >= 0 && noise <= 1)) throw new ArgumentOutOfRangeException(nameof(noise), $"Expected a noise level in [0, 1] but got {noise}.");
        const int px = Size * Size;
        var images = new float[(long)count * px];
        var labels = new int[count];
        int k = ClassNames.Count;
        Parallel.For(0, count, i =>
        {
            labels[i] = i % k;
            Render(images.AsSpan(i * px, px), labels[i], (ulong)seed, (ulong)i, noise);
        });
        return new Dataset(images, labels, 1, Size, Size, ClassNames, $"shapes(seed={seed})");
    }

    private static void Render(Span<float> img, int label, ulong seed, ulong stream, float noise)
    {
        ulong draw = 0;
        float U() => Rng.Uniform(seed, stream, draw++);
        float radius = 5f + 5f * U();
        float margin = radius + 1f;
        float cx = margin + (Size - 2 * margin) * U();
        float cy = margin + (Size - 2 * margin) * U();
        float angle = 2 * MathF.PI * U();
        float fg = 0.45f + 0.55f * U();
        float bg = 0.15f * U();
        float sigma = noise * U();
        float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
        float inv = 1f / radius;
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                int hits = 0;
                for (int sy = 0; sy < Sub; sy++)
                    for (int sx = 0; sx < Sub; sx++)
                    {
                        float dx = x + (sx + 0.5f) / Sub - cx, dy = y + (sy + 0.5f) / Sub - cy;
                        float u = (cos * dx + sin * dy) * inv, v = (-sin * dx + cos * dy) * inv;
                        if (Inside(label, u, v)) hits++;
                    }
                float cover = hits / (float)(Sub * Sub);
                img[y * Size + x] = bg + (fg - bg) * cover;
            }
        for (int p = 0; p < img.Length; p++)
        {
            // Box–Muller from two counter-based uniforms.
            float u1 = MathF.Max(U(), 1e-7f), u2 = U();
            float g = MathF.Sqrt(-2f * MathF.Log(u1)) * MathF.Cos(2 * MathF.PI * u2);
            img[p] = Math.Clamp(img[p] + sigma * g, 0f, 1f);
        }
    }

    /// <summary>Whether the point (u, v), in units of the shape's radius and in its rotated frame, lies inside the shape.</summary>
    private static bool Inside(int label, float u, float v)
    {
        float r2 = u * u + v * v;
        switch (label)
        {
            case 0: return r2 <= 1f;
            case 1: return MathF.Abs(u) <= 0.8f && MathF.Abs(v) <= 0.8f;
            case 2:
                // Equilateral triangle with circumradius 1 (inradius 0.5): outward edge normals at −90°, 30°, 150°.
                const float s = 0.8660254f;
                return -v <= 0.5f && (s * u + 0.5f * v) <= 0.5f && (-s * u + 0.5f * v) <= 0.5f;
            case 3: return (MathF.Abs(u) <= 0.25f && MathF.Abs(v) <= 1f) || (MathF.Abs(v) <= 0.25f && MathF.Abs(u) <= 1f);
            default: return r2 <= 1f && r2 >= 0.36f;
        }
    }
}
