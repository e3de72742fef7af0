namespace ConvEngine.Gpu;

/// <summary>
/// A float32 buffer in GPU memory: an OpenCL <c>cl_mem</c> or a CUDA device pointer. <see cref="Release"/> frees it at once;
/// otherwise the finalizer does. Its contents reach the host only through the device's explicit copies.
/// </summary>
public sealed class GpuBuffer : DeviceBuffer
{
    private readonly GpuDevice _owner;

    internal GpuBuffer(GpuDevice device, int length, nint handle) : base(device, length)
    {
        _owner = device;
        Handle = handle;
    }

    /// <summary>The native handle (<c>cl_mem</c> or <c>CUdeviceptr</c>); 0 once released.</summary>
    public nint Handle { get; private set; }

    /// <inheritdoc/>
    public override void Release()
    {
        var h = Handle;
        Handle = 0;
        if (h != 0 && !_owner.IsDisposed) _owner.FreeNative(h);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native memory when the buffer was never released.</summary>
    ~GpuBuffer()
    {
        try { Release(); }
        catch (GpuException) { /* the context may already be gone at shutdown */ }
    }
}
