// Index vectors for 16-lane float permutes and the mask of a partial store, shared by the AVX-512 kernels (Winograd's
// transforms, the direct kernel's scatter, the 1x1 col2im, the stride-2 copies), so each pattern is spelled once.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvEngine.Kernels.Simd;

internal static class Lanes512
{
    /// <summary>0, 1, …, 15.</summary>
    public static readonly Vector512<int> Index = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    /// <summary>0, 2, …, 30: the even lanes of two registers (PermuteVar16x32x2), a stride-2 gather.</summary>
    public static readonly Vector512<int> Evens = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    /// <summary>1, 3, …, 31: the odd lanes of two registers.</summary>
    public static readonly Vector512<int> Odds = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    /// <summary>0, 16, 1, 17, …, 7, 23: the lower halves of two registers interleaved.</summary>
    public static readonly Vector512<int> InterLo = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    /// <summary>8, 24, 9, 25, …, 15, 31: the upper halves of two registers interleaved.</summary>
    public static readonly Vector512<int> InterHi = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);

    /// <summary>The mask of the first <paramref name="count"/> lanes (all lanes from 16 on, none at 0 or below), for Avx512F.MaskStore.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> First(int count) => Vector512.LessThan(Index, Vector512.Create(count)).AsSingle();

    /// <summary>The mask of lanes l with <paramref name="lo"/> ≤ l &lt; <paramref name="hi"/> (either bound may lie outside 0..16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Between(int lo, int hi) =>
        (Vector512.GreaterThanOrEqual(Index, Vector512.Create(lo)) & Vector512.LessThan(Index, Vector512.Create(hi))).AsSingle();
}
