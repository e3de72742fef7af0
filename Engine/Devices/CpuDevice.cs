namespace ConvEngine;

/// <summary>
/// The fast CPU backend: SIMD kernels (Vector512/Vector256 with FMA where the processor has them, <see cref="System.Numerics.Vector{T}"/> otherwise)
/// and a configurable number of threads. Primitives not yet overridden here fall back to the naive loop nests of <see cref="HostDevice"/>.
/// </summary>
public sealed partial class CpuDevice : HostDevice
{
    /// <summary>A shared device using all cores. It holds no mutable state besides its thread count, fixed at construction.</summary>
    public static CpuDevice Default { get; } = new();

    /// <summary>Creates a CPU device.</summary>
    /// <param name="threads">Worker threads; 0 (the default) means <see cref="Environment.ProcessorCount"/>.</param>
    public CpuDevice(int threads = 0)
    {
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), threads, "Thread count must be zero (all cores) or positive.");
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
    }

    /// <summary>The number of threads kernels may use.</summary>
    public int Threads { get; }

    /// <summary>
    /// Whether a ParallelFor called now would have more than this thread to run on: more than one thread, and the worker
    /// pool not busy (inside a pool job, such as one chunk of Conv2d's image-parallel mode, a nested loop runs inline).
    /// </summary>
    internal bool CanRunParallel => Threads > 1 && !WorkerPool.Shared.IsBusy;

    /// <inheritdoc/>
    public override string Name => $"cpu({Threads} threads)";

    /// <summary>
    /// Runs body.Invoke(0..count-1) on up to <see cref="Threads"/> threads. Work items must write disjoint outputs; any
    /// reduction must combine per-item partial results in item order afterwards, so results do not depend on scheduling
    /// (the same thread count always gives bitwise the same numbers). The body is a struct: nothing is allocated.
    /// </summary>
    internal void ParallelFor<T>(int count, in T body) where T : struct, IParallelBody
    {
        if (count <= 0) return;
        if (Threads == 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body.Invoke(i);
            return;
        }
        // The shared worker pool (no allocation, fast hand-off); when it is busy (another thread's job, or a ParallelFor
        // nested inside a body) the loop runs on this thread.
        if (WorkerPool.Shared.TryRun(count, Threads, body)) return;
        for (int i = 0; i < count; i++) body.Invoke(i);
    }

    /// <summary>ParallelFor over a delegate (tests and cold paths; the delegate and its closure are allocated by the caller).</summary>
    internal void ParallelFor(int count, Action<int> body) => ParallelFor(count, new ActionBody(body));
}
