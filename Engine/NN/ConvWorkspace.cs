namespace ConvEngine.NN;

// Scratch memory for Conv2d: the column matrix of a chunk of images, its gradient, and the GEMM output in [Cout, N·OH·OW]
// layout before it is swapped into NCHW. One workspace per thread and device, shared by every Conv2d the thread runs
// (a convolution never runs inside another, so the buffers are never in use twice), grown to the largest request and then
// reused: a training step touches no fresh memory, and eval-mode passes on many threads each use their own thread's buffers.
// The tensors are 1-D with at least the requested capacity; GEMM and im2col address them through offsets and leading
// dimensions, so their shapes do not matter.
internal sealed class ConvWorkspace
{
    [ThreadStatic] private static ConvWorkspace? t_current;

    private readonly IDevice _device;
    private Tensor? _col, _dcol, _out;

    private ConvWorkspace(IDevice device) => _device = device;

    /// <summary>The calling thread's workspace for <paramref name="device"/> (a thread that switches devices gets a new one).</summary>
    public static ConvWorkspace For(IDevice device)
    {
        var ws = t_current;
        if (ws is null || !ReferenceEquals(ws._device, device)) t_current = ws = new ConvWorkspace(device);
        return ws;
    }

    /// <summary>Column matrix of at least <paramref name="length"/> elements.</summary>
    public Tensor Col(long length) => Get(ref _col, length);

    /// <summary>Column-gradient matrix of at least <paramref name="length"/> elements.</summary>
    public Tensor DCol(long length) => Get(ref _dcol, length);

    /// <summary>Output (or output-gradient) block of at least <paramref name="length"/> elements.</summary>
    public Tensor Out(long length) => Get(ref _out, length);

    private Tensor Get(ref Tensor? field, long length)
    {
        if (length > int.MaxValue) throw new InvalidOperationException($"Convolution scratch of {length} elements exceeds the largest tensor ({int.MaxValue}).");
        if (field is null || field.Length < length) field = new Tensor(_device, (int)Math.Max(length, 1));
        return field;
    }
}
