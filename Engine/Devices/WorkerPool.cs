using System.Runtime.ExceptionServices;

namespace ConvEngine;

// The fork-join pool behind CpuDevice.ParallelFor: persistent background workers that sleep on a semaphore, wake for a
// job, take item indices from one shared counter together with the calling thread, and report back. Parallel.For does the
// same through the thread pool but allocates and schedules on every call; the kernels here issue thousands of short
// parallel loops per training step (an im2col, a GEMM and a swap per chunk of images per layer).
// One job at a time: a call that finds the pool busy (another thread's job, or a ParallelFor nested inside a body) gets
// false and runs its loop on the calling thread, which is always correct because items write disjoint outputs.
// The workers are process-wide infrastructure like the .NET thread pool; they hold no backend state.
// A job's body is a struct (IParallelBody), parked in a static slot of its type while the job runs: handing work to the
// pool allocates nothing (a lambda would allocate its closure and delegate on every call, thousands of times a step).
internal sealed class WorkerPool
{
    private static readonly Lazy<WorkerPool> s_shared = new(() => new WorkerPool(Math.Max(0, Environment.ProcessorCount - 1)));

    /// <summary>The process-wide pool: one worker per core besides the caller's.</summary>
    public static WorkerPool Shared => s_shared.Value;

    private readonly SemaphoreSlim[] _wake;
    private readonly ManualResetEventSlim _done = new(false);
    private int _busy;
    private Action<int, int>? _run;   // runs items [start, end) of the current job's body
    private int _count, _next, _remaining, _grain;
    private Exception? _error;

    private WorkerPool(int workers)
    {
        _wake = new SemaphoreSlim[workers];
        for (int w = 0; w < workers; w++)
        {
            var wake = _wake[w] = new SemaphoreSlim(0);
            new Thread(() => WorkerLoop(wake)) { IsBackground = true, Name = $"ConvEngine worker {w + 1}" }.Start();
        }
    }

    /// <summary>The number of worker threads (besides the caller).</summary>
    public int Workers => _wake.Length;

    /// <summary>
    /// Whether a job is running (this thread's or another's): a ParallelFor called now would run on the calling thread
    /// alone. A hint for kernels that would otherwise split work only to have threads to give it to.
    /// </summary>
    public bool IsBusy => Volatile.Read(ref _busy) != 0;

    /// <summary>
    /// Runs body(0..count-1) on the calling thread and up to <paramref name="threads"/> − 1 workers, returning when all
    /// items are done (rethrowing the first exception a body threw). Returns false, having run nothing, when the pool is busy.
    /// </summary>
    public bool TryRun<T>(int count, int threads, in T body) where T : struct, IParallelBody
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0) return false;
        try
        {
            int helpers = Math.Min(Math.Min(threads - 1, _wake.Length), count - 1);
            // Only the holder of _busy writes a slot, and the semaphore release below publishes it to the workers.
            Slot<T>.Body = body;
            _run = Slot<T>.RunRange;
            _count = count;
            _grain = Math.Max(1, count / (8 * (helpers + 1)));
            _error = null;
            Volatile.Write(ref _next, 0);
            Volatile.Write(ref _remaining, helpers);
            _done.Reset();
            for (int w = 0; w < helpers; w++) _wake[w].Release();
            RunItems();
            if (helpers > 0)
            {
                var spin = new SpinWait();
                while (Volatile.Read(ref _remaining) != 0 && !spin.NextSpinWillYield) spin.SpinOnce();
                // _done may still be set by the previous job's last worker (it decrements, then sets): re-check after waking.
                while (Volatile.Read(ref _remaining) != 0)
                {
                    _done.Wait();
                    if (Volatile.Read(ref _remaining) != 0) _done.Reset();
                }
            }
            _run = null;
            Slot<T>.Body = default;   // drop the references the body holds
            if (_error is { } e) ExceptionDispatchInfo.Throw(e);
            return true;
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    // Items are handed out in contiguous runs of _grain (about eight runs per participant): one atomic add per run instead
    // of per item, and neighbouring items, which usually touch neighbouring memory, stay on one thread.
    private void RunItems()
    {
        var run = _run!;
        int count = _count, grain = _grain, start;
        while ((start = Interlocked.Add(ref _next, grain) - grain) < count)
        {
            int end = Math.Min(count, start + grain);
            try
            {
                run(start, end);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Volatile.Write(ref _next, count); // stop handing out items
            }
        }
    }

    private void WorkerLoop(SemaphoreSlim wake)
    {
        while (true)
        {
            wake.Wait();
            RunItems();
            if (Interlocked.Decrement(ref _remaining) == 0) _done.Set();
        }
    }

    // The body of the running job of type T, and one cached delegate per T that runs a range of its items.
    private static class Slot<T> where T : struct, IParallelBody
    {
        public static T Body;
        public static readonly Action<int, int> RunRange = static (start, end) =>
        {
            ref T body = ref Body;
            for (int i = start; i < end; i++) body.Invoke(i);
        };
    }
}

/// <summary>
/// One work item of <see cref="CpuDevice.ParallelFor{T}(int, in T)"/>: a struct holding what the loop body needs, so a
/// parallel loop allocates nothing. Invoke must be safe to call for different items at once on several threads.
/// </summary>
internal interface IParallelBody
{
    /// <summary>Runs work item <paramref name="item"/>.</summary>
    void Invoke(int item);
}

/// <summary>A body over a contiguous range [start, start + length) (see <see cref="CpuDevice.RunChunked{T}(int, in T)"/>).</summary>
internal interface IRangeBody
{
    /// <summary>Processes elements [start, start + length).</summary>
    void Invoke(int start, int length);
}

/// <summary>Adapts an <see cref="Action{T}"/> (tests, rare paths): allocates its delegate, so hot paths use their own structs.</summary>
internal readonly struct ActionBody(Action<int> body) : IParallelBody
{
    public void Invoke(int item) => body(item);
}
