using System.Runtime.InteropServices;

namespace ConvEngine.Gpu.Cuda;

/// <summary>Hand-written bindings to the CUDA driver API (<c>libcuda.so.1</c>): primary context, modules from PTX, launches, <c>_v2</c> memory calls.</summary>
internal static unsafe partial class Cu
{
    private const string Lib = NativeLibraries.Cuda;
    internal const int ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;

    [LibraryImport(Lib)] internal static partial int cuInit(uint flags);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetCount(int* count);
    [LibraryImport(Lib)] internal static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Lib)] internal static partial int cuDeviceGetAttribute(int* value, int attribute, int device);
    [LibraryImport(Lib)] internal static partial int cuDevicePrimaryCtxRetain(nint* context, int device);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] internal static partial int cuDevicePrimaryCtxRelease(int device);
    [LibraryImport(Lib)] internal static partial int cuCtxSetCurrent(nint context);
    [LibraryImport(Lib)] internal static partial int cuCtxSynchronize();
    [LibraryImport(Lib)] internal static partial int cuModuleLoadData(nint* module, void* image);
    [LibraryImport(Lib)] internal static partial int cuModuleGetFunction(nint* function, nint module, byte* name);
    [LibraryImport(Lib)] internal static partial int cuModuleUnload(nint module);
    [LibraryImport(Lib)] internal static partial int cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
                                                                    uint sharedBytes, nint stream, void** parameters, void** extra);
    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] internal static partial int cuMemAlloc(ulong* pointer, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] internal static partial int cuMemFree(ulong pointer);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoD_v2")] internal static partial int cuMemcpyHtoD(ulong destination, void* source, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoH_v2")] internal static partial int cuMemcpyDtoH(void* destination, ulong source, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoD_v2")] internal static partial int cuMemcpyDtoD(ulong destination, ulong source, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD32_v2")] internal static partial int cuMemsetD32(ulong destination, uint value, nuint count);
    [LibraryImport(Lib)] internal static partial int cuGetErrorName(int error, byte** name);

    internal static void Check(int status, string api)
    {
        if (status != 0) throw new GpuException(api, ErrorName(status), status);
    }

    internal static string ErrorName(int status)
    {
        byte* p = null;
        try
        {
            if (cuGetErrorName(status, &p) == 0 && p != null) return Marshal.PtrToStringAnsi((nint)p) ?? $"CUDA_ERROR_{status}";
        }
        catch (EntryPointNotFoundException) { }
        return $"CUDA_ERROR_{status}";
    }
}

/// <summary>Hand-written bindings to NVRTC (<c>libnvrtc.so.*</c>): CUDA C source to PTX.</summary>
internal static unsafe partial class Nvrtc
{
    private const string Lib = NativeLibraries.Nvrtc;

    [LibraryImport(Lib)] internal static partial int nvrtcCreateProgram(nint* program, byte* source, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] internal static partial int nvrtcCompileProgram(nint program, int numOptions, byte** options);
    [LibraryImport(Lib)] internal static partial int nvrtcGetProgramLogSize(nint program, nuint* size);
    [LibraryImport(Lib)] internal static partial int nvrtcGetProgramLog(nint program, byte* log);
    [LibraryImport(Lib)] internal static partial int nvrtcGetPTXSize(nint program, nuint* size);
    [LibraryImport(Lib)] internal static partial int nvrtcGetPTX(nint program, byte* ptx);
    [LibraryImport(Lib)] internal static partial int nvrtcDestroyProgram(nint* program);
    [LibraryImport(Lib)] internal static partial byte* nvrtcGetErrorString(int result);

    internal static void Check(int status, string api, string? log = null)
    {
        if (status != 0) throw new GpuException(api, Marshal.PtrToStringAnsi((nint)nvrtcGetErrorString(status)) ?? $"NVRTC_ERROR_{status}", status, log);
    }
}
