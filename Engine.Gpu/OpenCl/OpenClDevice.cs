using System.Text;

namespace ConvEngine.Gpu.OpenCl;

/// <summary>
/// An OpenCL device (any platform the ICD loader finds: a GPU driver, or PoCL on the CPU). Kernels are built from the shared
/// C-subset sources as OpenCL C 1.2 the first time a family is used; one in-order command queue; blocking host copies.
/// </summary>
public sealed unsafe class OpenClDevice : GpuDevice
{
    private readonly nint _device, _context, _queue;
    private readonly Dictionary<string, nint> _programs = new();
    private readonly List<nint> _kernelHandles = new();

    /// <summary>Opens OpenCL device <paramref name="index"/> (platforms in ICD order, devices in platform order).</summary>
    /// <param name="index">Index into the flattened device list (see <see cref="Devices.List"/>).</param>
    /// <exception cref="GpuUnavailableException">No OpenCL runtime, no platform, or no device with that index.</exception>
    public OpenClDevice(int index = 0)
    {
        var devices = Enumerate();
        if (devices.Count == 0)
            throw new GpuUnavailableException("no OpenCL platform: the ICD loader found no driver. Install one, e.g. `apt-get install pocl-opencl-icd ocl-icd-libopencl1` (CPU) or your GPU vendor's OpenCL ICD.");
        if (index < 0 || index >= devices.Count)
            throw new GpuUnavailableException($"OpenCL device {index} does not exist; found {devices.Count}: {string.Join("; ", devices.Select((d, i) => $"{i}: {DeviceName(d.Device)}"))}.");
        var (platform, device) = devices[index];
        _device = device;
        PlatformName = Cl.InfoString(platform, Cl.PLATFORM_NAME, device: false);
        DeviceName_ = DeviceName(device);
        nuint maxGroup;
        Cl.Check(Cl.clGetDeviceInfo(device, Cl.DEVICE_MAX_WORK_GROUP_SIZE, (nuint)sizeof(nuint), &maxGroup, null), "clGetDeviceInfo");
        if (maxGroup < 256)
            throw new GpuUnavailableException($"OpenCL device {index} ({DeviceName_}) allows work-groups of {maxGroup} items; the kernels need 256.");
        var extensions = Cl.InfoString(device, Cl.DEVICE_EXTENSIONS, device: true);
        AccumulatorSize = extensions.Contains("cl_khr_fp64", StringComparison.Ordinal) ? 8 : 4;
        int err;
        nint d = device;
        _context = Cl.clCreateContext(null, 1, &d, 0, 0, &err);
        Cl.Check(err, "clCreateContext");
        _queue = Cl.clCreateCommandQueue(_context, device, 0, &err);
        if (err != 0) { Cl.clReleaseContext(_context); Cl.Check(err, "clCreateCommandQueue"); }
    }

    /// <summary>Platform/device pairs, or an exception explaining that the runtime library is missing.</summary>
    internal static List<(nint Platform, nint Device)> Enumerate()
    {
        if (NativeLibraries.TryLoad(NativeLibraries.OpenCl, out var tried) == 0)
            throw new GpuUnavailableException($"no OpenCL runtime: could not load the ICD loader (tried {tried}). Install it with a driver, e.g. `apt-get install ocl-icd-libopencl1 pocl-opencl-icd`.");
        return Cl.AllDevices();
    }

    internal static bool IsGpu(nint device)
    {
        ulong type;
        return Cl.clGetDeviceInfo(device, Cl.DEVICE_TYPE, 8, &type, null) == 0 && (type & Cl.DEVICE_TYPE_GPU) != 0;
    }

    internal static string DeviceName(nint device) => Cl.InfoString(device, Cl.DEVICE_NAME, device: true);

    private string DeviceName_ { get; }

    /// <summary>The platform's name, e.g. <c>Portable Computing Language</c>.</summary>
    public string PlatformName { get; }

    /// <inheritdoc/>
    public override string Name => $"opencl({DeviceName_}, {PlatformName})";

    private protected override int AccumulatorSize { get; }

    private protected override nint AllocateNative(long bytes)
    {
        int err;
        var mem = Cl.clCreateBuffer(_context, Cl.MEM_READ_WRITE, (nuint)bytes, 0, &err);
        Cl.Check(err, "clCreateBuffer");
        uint zero = 0;
        int st = Cl.clEnqueueFillBuffer(_queue, mem, &zero, 4, 0, (nuint)bytes, 0, null, null);
        if (st != 0) { Cl.clReleaseMemObject(mem); Cl.Check(st, "clEnqueueFillBuffer"); }
        return mem;
    }

    internal override void FreeNative(nint handle) => Cl.Check(Cl.clReleaseMemObject(handle), "clReleaseMemObject");

    private protected override void Write(nint handle, long byteOffset, void* source, long bytes) =>
        Cl.Check(Cl.clEnqueueWriteBuffer(_queue, handle, 1, (nuint)byteOffset, (nuint)bytes, source, 0, null, null), "clEnqueueWriteBuffer");

    private protected override void Read(nint handle, long byteOffset, void* destination, long bytes) =>
        Cl.Check(Cl.clEnqueueReadBuffer(_queue, handle, 1, (nuint)byteOffset, (nuint)bytes, destination, 0, null, null), "clEnqueueReadBuffer");

    private protected override void CopyNative(nint source, long sourceByteOffset, nint destination, long destinationByteOffset, long bytes) =>
        Cl.Check(Cl.clEnqueueCopyBuffer(_queue, source, destination, (nuint)sourceByteOffset, (nuint)destinationByteOffset, (nuint)bytes, 0, null, null), "clEnqueueCopyBuffer");

    private protected override nint CreateKernel(string family, string source, string kernel)
    {
        if (!_programs.TryGetValue(family, out var program))
        {
            program = Build(source);
            _programs[family] = program;
        }
        int err;
        var nameBytes = Encoding.ASCII.GetBytes(kernel + "\0");
        nint k;
        fixed (byte* pn = nameBytes) k = Cl.clCreateKernel(program, pn, &err);
        Cl.Check(err, $"clCreateKernel({kernel})");
        _kernelHandles.Add(k);
        return k;
    }

    private nint Build(string source)
    {
        var bytes = Encoding.UTF8.GetBytes(source);
        int err;
        nint program;
        fixed (byte* p = bytes)
        {
            byte* s = p;
            nuint len = (nuint)bytes.Length;
            program = Cl.clCreateProgramWithSource(_context, 1, &s, &len, &err);
        }
        Cl.Check(err, "clCreateProgramWithSource");
        // Correctly rounded division and sqrt, as the host's float arithmetic.
        var options = Encoding.ASCII.GetBytes("-cl-fp32-correctly-rounded-divide-sqrt\0");
        int st;
        nint d = _device;
        fixed (byte* o = options) st = Cl.clBuildProgram(program, 1, &d, o, 0, 0);
        if (st != 0)
        {
            string log = BuildLog(program);
            Cl.clReleaseProgram(program);
            Cl.Check(st, "clBuildProgram", log);
        }
        return program;
    }

    private string BuildLog(nint program)
    {
        nuint size;
        if (Cl.clGetProgramBuildInfo(program, _device, Cl.PROGRAM_BUILD_LOG, 0, null, &size) != 0) return "(no build log)";
        var buf = new byte[(int)size];
        fixed (byte* p = buf) Cl.clGetProgramBuildInfo(program, _device, Cl.PROGRAM_BUILD_LOG, size, p, null);
        return Encoding.UTF8.GetString(buf).TrimEnd('\0');
    }

    private protected override void Launch(nint kernel, int globalX, int globalY, int localX, int localY, ReadOnlySpan<KernelArg> args)
    {
        lock (Gate)
        {
            for (int i = 0; i < args.Length; i++)
            {
                ulong bits = args[i].Bits;
                Cl.Check(Cl.clSetKernelArg(kernel, (uint)i, (nuint)args[i].Size, &bits), "clSetKernelArg");
            }
            nuint* global = stackalloc nuint[2] { (nuint)globalX, (nuint)globalY };
            nuint* local = stackalloc nuint[2] { (nuint)localX, (nuint)localY };
            uint dims = globalY == 1 && localY == 1 ? 1u : 2u;
            Cl.Check(Cl.clEnqueueNDRangeKernel(_queue, kernel, dims, null, global, local, 0, null, null), "clEnqueueNDRangeKernel");
        }
    }

    /// <inheritdoc/>
    public override void Synchronize() => Cl.Check(Cl.clFinish(_queue), "clFinish");

    private protected override void ReleaseNative()
    {
        Cl.clFinish(_queue);
        foreach (var k in _kernelHandles) Cl.clReleaseKernel(k);
        foreach (var p in _programs.Values) Cl.clReleaseProgram(p);
        _kernelHandles.Clear();
        _programs.Clear();
        Cl.clReleaseCommandQueue(_queue);
        Cl.clReleaseContext(_context);
    }
}
