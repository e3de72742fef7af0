namespace ConvEngine;

/// <summary>
/// A counter-based random generator: the i-th draw of a (seed, stream) pair is a pure function of the three numbers,
/// so every device (and every thread) produces the same values without shared state.
/// </summary>
public static class Rng
{
    /// <summary>A 64-bit mix of (seed, stream, index) (SplitMix64's finaliser applied twice).</summary>
    public static ulong Hash(ulong seed, ulong stream, ulong index)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (stream + 1) + index * 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform float in [0, 1) with 24 random bits.</summary>
    public static float Uniform(ulong seed, ulong stream, ulong index) => (Hash(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}
