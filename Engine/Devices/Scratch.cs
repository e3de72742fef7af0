using System.Numerics;

namespace ConvEngine;

// Temporary arrays of the CPU kernels (per-chunk partial sums, per-channel coefficients, run tables that do not fit the
// stack): each call site keeps its own [ThreadStatic] array, grown on demand and never shrunk, so a kernel allocates
// only while its sizes still grow (warm-up). Per thread rather than one static per call site because several threads
// may run the same kernel at once (two devices, or user threads sharing one); per call site so two kernels never share one.
internal static class Scratch
{
    /// <summary>
    /// The array in <paramref name="slot"/>, replaced by a new one when it holds fewer than <paramref name="length"/>
    /// elements (sized up to a power of two so slowly growing sizes reallocate rarely). Contents are stale: callers clear what they read.
    /// </summary>
    public static T[] Get<T>(ref T[]? slot, int length)
    {
        if (slot is { } a && a.Length >= length) return a;
        int size = length <= 64 ? 64 : length >= 1 << 30 ? length : (int)BitOperations.RoundUpToPowerOf2((uint)length);
        return slot = new T[size];
    }
}
