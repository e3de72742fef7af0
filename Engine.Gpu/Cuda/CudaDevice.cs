using System.Text;

namespace ConvEngine.Gpu.Cuda;

/// <summary>
/// A CUDA device through the driver API: the device's primary context, kernels compiled at run time by NVRTC from the same
/// C-subset sources as OpenCL (CUDA branch of the prelude) and loaded as PTX. Launches go to the legacy default stream;
/// host copies are synchronous.
/// </summary>
public sealed unsafe class CudaDevice : GpuDevice
{
    private readonly int _device;
    private readonly nint _context;
    private readonly string _arch;
    private readonly Dictionary<string, nint> _modules = new();

    /// <summary>Opens CUDA device <paramref name="index"/> and retains its primary context.</summary>
    /// <param name="index">CUDA device ordinal.</param>
    /// <exception cref="GpuUnavailableException">No driver, no device with that index, or no NVRTC library.</exception>
    public CudaDevice(int index = 0)
    {
        int count = Init();
        if (index < 0 || index >= count)
            throw new GpuUnavailableException($"CUDA device {index} does not exist; the driver reports {count} device(s).");
        if (NativeLibraries.TryLoad(NativeLibraries.Nvrtc, out var tried) == 0)
            throw new GpuUnavailableException($"no NVRTC library (tried {tried}): install the CUDA runtime compiler (e.g. `apt-get install libnvrtc12` or the toolkit's cuda-nvrtc package), or set CONVENGINE_NVRTC to its path.");
        int dev, major, minor;
        Cu.Check(Cu.cuDeviceGet(&dev, index), "cuDeviceGet");
        _device = dev;
        Cu.Check(Cu.cuDeviceGetAttribute(&major, Cu.ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), "cuDeviceGetAttribute");
        Cu.Check(Cu.cuDeviceGetAttribute(&minor, Cu.ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), "cuDeviceGetAttribute");
        _arch = $"compute_{major}{minor}";
        DeviceName_ = NameOf(dev);
        nint ctx;
        Cu.Check(Cu.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
        _context = ctx;
        Current();
    }

    /// <summary>Loads the driver and initialises it; returns the device count.</summary>
    private static int Init()
    {
        if (NativeLibraries.TryLoad(NativeLibraries.Cuda, out var tried) == 0)
            throw new GpuUnavailableException($"no CUDA driver: could not load {tried}. Install the NVIDIA driver (it provides libcuda.so.1) on a machine with an NVIDIA GPU.");
        int st = Cu.cuInit(0);
        if (st != 0) throw new GpuUnavailableException($"the CUDA driver did not initialise: cuInit returned {Cu.ErrorName(st)} ({st}).");
        int count;
        Cu.Check(Cu.cuDeviceGetCount(&count), "cuDeviceGetCount");
        if (count == 0) throw new GpuUnavailableException("the CUDA driver reports no device.");
        return count;
    }

    /// <summary>Names of the CUDA devices present.</summary>
    internal static List<string> EnumerateNames()
    {
        int count = Init();
        var names = new List<string>();
        for (int i = 0; i < count; i++)
        {
            int dev;
            Cu.Check(Cu.cuDeviceGet(&dev, i), "cuDeviceGet");
            names.Add(NameOf(dev));
        }
        return names;
    }

    private static string NameOf(int dev)
    {
        var buf = new byte[256];
        fixed (byte* p = buf) Cu.Check(Cu.cuDeviceGetName(p, buf.Length, dev), "cuDeviceGetName");
        return Encoding.ASCII.GetString(buf).TrimEnd('\0');
    }

    private string DeviceName_ { get; }

    /// <inheritdoc/>
    public override string Name => $"cuda({DeviceName_})";

    private protected override int AccumulatorSize => 8;

    /// <summary>Makes the primary context current on the calling thread (cheap; every entry point calls it).</summary>
    private void Current() => Cu.Check(Cu.cuCtxSetCurrent(_context), "cuCtxSetCurrent");

    private protected override nint AllocateNative(long bytes)
    {
        Current();
        ulong p;
        Cu.Check(Cu.cuMemAlloc(&p, (nuint)bytes), "cuMemAlloc_v2");
        int st = Cu.cuMemsetD32(p, 0, (nuint)(bytes / 4));
        if (st != 0) { Cu.cuMemFree(p); Cu.Check(st, "cuMemsetD32_v2"); }
        return (nint)p;
    }

    internal override void FreeNative(nint handle)
    {
        Current();
        Cu.Check(Cu.cuMemFree((ulong)handle), "cuMemFree_v2");
    }

    private protected override void Write(nint handle, long byteOffset, void* source, long bytes)
    {
        Current();
        Cu.Check(Cu.cuMemcpyHtoD((ulong)handle + (ulong)byteOffset, source, (nuint)bytes), "cuMemcpyHtoD_v2");
    }

    private protected override void Read(nint handle, long byteOffset, void* destination, long bytes)
    {
        Current();
        Cu.Check(Cu.cuMemcpyDtoH(destination, (ulong)handle + (ulong)byteOffset, (nuint)bytes), "cuMemcpyDtoH_v2");
    }

    private protected override void CopyNative(nint source, long sourceByteOffset, nint destination, long destinationByteOffset, long bytes)
    {
        Current();
        Cu.Check(Cu.cuMemcpyDtoD((ulong)destination + (ulong)destinationByteOffset, (ulong)source + (ulong)sourceByteOffset, (nuint)bytes), "cuMemcpyDtoD_v2");
    }

    private protected override nint CreateKernel(string family, string source, string kernel)
    {
        Current();
        if (!_modules.TryGetValue(family, out var module))
        {
            var ptx = Compile(family, source);
            fixed (byte* p = ptx) Cu.Check(Cu.cuModuleLoadData(&module, p), $"cuModuleLoadData({family})");
            _modules[family] = module;
        }
        nint fn;
        var name = Encoding.ASCII.GetBytes(kernel + "\0");
        fixed (byte* p = name) Cu.Check(Cu.cuModuleGetFunction(&fn, module, p), $"cuModuleGetFunction({kernel})");
        return fn;
    }

    /// <summary>NVRTC: source to NUL-terminated PTX for this device's architecture.</summary>
    private byte[] Compile(string family, string source)
    {
        try { return Compile(family, source, _arch); }
        catch (GpuException e) when (e.Code == 5 && _arch != "compute_70")
        {
            // NVRTC_ERROR_INVALID_OPTION: this NVRTC predates the device's architecture; PTX for compute_70 is JIT-compiled
            // by the driver for any newer GPU.
            return Compile(family, source, "compute_70");
        }
    }

    private static byte[] Compile(string family, string source, string arch)
    {
        var src = Encoding.UTF8.GetBytes(source + "\0");
        var name = Encoding.ASCII.GetBytes(family + ".cu\0");
        nint prog;
        fixed (byte* s = src, n = name) Nvrtc.Check(Nvrtc.nvrtcCreateProgram(&prog, s, n, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var options = new[] { "--gpu-architecture=" + arch, "--std=c++11" }.Select(o => Encoding.ASCII.GetBytes(o + "\0")).ToArray();
            var handles = options.Select(o => System.Runtime.InteropServices.GCHandle.Alloc(o, System.Runtime.InteropServices.GCHandleType.Pinned)).ToArray();
            int st;
            try
            {
                var ptrs = stackalloc byte*[options.Length];
                for (int i = 0; i < options.Length; i++) ptrs[i] = (byte*)handles[i].AddrOfPinnedObject();
                st = Nvrtc.nvrtcCompileProgram(prog, options.Length, ptrs);
            }
            finally { foreach (var h in handles) h.Free(); }
            if (st != 0) Nvrtc.Check(st, $"nvrtcCompileProgram({family}, {arch})", Log(prog));
            nuint size;
            Nvrtc.Check(Nvrtc.nvrtcGetPTXSize(prog, &size), "nvrtcGetPTXSize");
            var ptx = new byte[(int)size];
            fixed (byte* p = ptx) Nvrtc.Check(Nvrtc.nvrtcGetPTX(prog, p), "nvrtcGetPTX");
            return ptx;
        }
        finally { Nvrtc.nvrtcDestroyProgram(&prog); }
    }

    private static string Log(nint prog)
    {
        nuint size;
        if (Nvrtc.nvrtcGetProgramLogSize(prog, &size) != 0 || size == 0) return "(no log)";
        var buf = new byte[(int)size];
        fixed (byte* p = buf) Nvrtc.nvrtcGetProgramLog(prog, p);
        return Encoding.UTF8.GetString(buf).TrimEnd('\0');
    }

    private protected override void Launch(nint kernel, int globalX, int globalY, int localX, int localY, ReadOnlySpan<KernelArg> args)
    {
        Current();
        // cuLaunchKernel takes an array of pointers to the argument values; buffers are CUdeviceptr (8 bytes).
        var values = stackalloc ulong[args.Length];
        var pointers = stackalloc void*[args.Length];
        for (int i = 0; i < args.Length; i++)
        {
            values[i] = args[i].Bits;
            pointers[i] = &values[i];
        }
        Cu.Check(Cu.cuLaunchKernel(kernel, (uint)(globalX / localX), (uint)(globalY / localY), 1, (uint)localX, (uint)localY, 1, 0, 0, pointers, null), "cuLaunchKernel");
    }

    /// <inheritdoc/>
    public override void Synchronize()
    {
        Current();
        Cu.Check(Cu.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    private protected override void ReleaseNative()
    {
        Current();
        Cu.cuCtxSynchronize();
        foreach (var m in _modules.Values) Cu.cuModuleUnload(m);
        _modules.Clear();
        Cu.cuDevicePrimaryCtxRelease(_device);
    }
}
