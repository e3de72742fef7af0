using System.Runtime.InteropServices;

namespace ConvEngine.Gpu.OpenCl;

/// <summary>
/// Hand-written bindings to the OpenCL 1.2 ICD loader (<c>libOpenCL.so.1</c>): just what <see cref="OpenClDevice"/> needs.
/// Every call's status goes through <see cref="Check"/>, which turns it into a <see cref="GpuException"/> naming the API and error.
/// </summary>
internal static unsafe partial class Cl
{
    private const string Lib = NativeLibraries.OpenCl;

    internal const uint PLATFORM_VERSION = 0x0901, PLATFORM_NAME = 0x0902;
    internal const ulong DEVICE_TYPE_ALL = 0xFFFFFFFF, DEVICE_TYPE_GPU = 4;
    internal const uint DEVICE_TYPE = 0x1000, DEVICE_MAX_WORK_GROUP_SIZE = 0x1004, DEVICE_NAME = 0x102B, DEVICE_EXTENSIONS = 0x1030;
    internal const uint PROGRAM_BUILD_LOG = 0x1183;
    internal const ulong MEM_READ_WRITE = 1;

    [LibraryImport(Lib)] internal static partial int clGetPlatformIDs(uint numEntries, nint* platforms, uint* numPlatforms);
    [LibraryImport(Lib)] internal static partial int clGetPlatformInfo(nint platform, uint param, nuint size, void* value, nuint* sizeRet);
    [LibraryImport(Lib)] internal static partial int clGetDeviceIDs(nint platform, ulong type, uint numEntries, nint* devices, uint* numDevices);
    [LibraryImport(Lib)] internal static partial int clGetDeviceInfo(nint device, uint param, nuint size, void* value, nuint* sizeRet);
    [LibraryImport(Lib)] internal static partial nint clCreateContext(nint* properties, uint numDevices, nint* devices, nint notify, nint userData, int* err);
    [LibraryImport(Lib)] internal static partial nint clCreateCommandQueue(nint context, nint device, ulong properties, int* err);
    [LibraryImport(Lib)] internal static partial nint clCreateProgramWithSource(nint context, uint count, byte** strings, nuint* lengths, int* err);
    [LibraryImport(Lib)] internal static partial int clBuildProgram(nint program, uint numDevices, nint* devices, byte* options, nint notify, nint userData);
    [LibraryImport(Lib)] internal static partial int clGetProgramBuildInfo(nint program, nint device, uint param, nuint size, void* value, nuint* sizeRet);
    [LibraryImport(Lib)] internal static partial nint clCreateKernel(nint program, byte* name, int* err);
    [LibraryImport(Lib)] internal static partial int clSetKernelArg(nint kernel, uint index, nuint size, void* value);
    [LibraryImport(Lib)] internal static partial nint clCreateBuffer(nint context, ulong flags, nuint size, nint hostPtr, int* err);
    [LibraryImport(Lib)] internal static partial int clEnqueueWriteBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* ptr, uint numEvents, nint* waitList, nint* evt);
    [LibraryImport(Lib)] internal static partial int clEnqueueReadBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* ptr, uint numEvents, nint* waitList, nint* evt);
    [LibraryImport(Lib)] internal static partial int clEnqueueCopyBuffer(nint queue, nint src, nint dst, nuint srcOffset, nuint dstOffset, nuint size, uint numEvents, nint* waitList, nint* evt);
    [LibraryImport(Lib)] internal static partial int clEnqueueFillBuffer(nint queue, nint buffer, void* pattern, nuint patternSize, nuint offset, nuint size, uint numEvents, nint* waitList, nint* evt);
    [LibraryImport(Lib)] internal static partial int clEnqueueNDRangeKernel(nint queue, nint kernel, uint workDim, nuint* globalOffset, nuint* globalSize, nuint* localSize, uint numEvents, nint* waitList, nint* evt);
    [LibraryImport(Lib)] internal static partial int clFinish(nint queue);
    [LibraryImport(Lib)] internal static partial int clReleaseMemObject(nint mem);
    [LibraryImport(Lib)] internal static partial int clReleaseKernel(nint kernel);
    [LibraryImport(Lib)] internal static partial int clReleaseProgram(nint program);
    [LibraryImport(Lib)] internal static partial int clReleaseCommandQueue(nint queue);
    [LibraryImport(Lib)] internal static partial int clReleaseContext(nint context);

    /// <summary>Throws <see cref="GpuException"/> for a non-zero status.</summary>
    internal static void Check(int status, string api, string? log = null)
    {
        if (status != 0) throw new GpuException(api, ErrorName(status), status, log);
    }

    /// <summary>A platform or device info string.</summary>
    internal static string InfoString(nint handle, uint param, bool device)
    {
        nuint size;
        Check(device ? clGetDeviceInfo(handle, param, 0, null, &size) : clGetPlatformInfo(handle, param, 0, null, &size), device ? "clGetDeviceInfo" : "clGetPlatformInfo");
        var buf = new byte[(int)size];
        fixed (byte* p = buf)
            Check(device ? clGetDeviceInfo(handle, param, size, p, null) : clGetPlatformInfo(handle, param, size, p, null), device ? "clGetDeviceInfo" : "clGetPlatformInfo");
        return System.Text.Encoding.UTF8.GetString(buf).TrimEnd('\0').Trim();
    }

    /// <summary>The platforms and their devices, in ICD order (flattened: device index i is the i-th pair).</summary>
    internal static List<(nint Platform, nint Device)> AllDevices()
    {
        var result = new List<(nint, nint)>();
        uint np;
        int st = clGetPlatformIDs(0, null, &np);
        if (st == -1001 || np == 0) return result;   // CL_PLATFORM_NOT_FOUND_KHR: the loader found no ICD
        Check(st, "clGetPlatformIDs");
        var platforms = stackalloc nint[(int)np];
        Check(clGetPlatformIDs(np, platforms, null), "clGetPlatformIDs");
        for (int p = 0; p < np; p++)
        {
            uint nd;
            if (clGetDeviceIDs(platforms[p], DEVICE_TYPE_ALL, 0, null, &nd) != 0 || nd == 0) continue;
            var devices = new nint[nd];
            fixed (nint* d = devices) Check(clGetDeviceIDs(platforms[p], DEVICE_TYPE_ALL, nd, d, null), "clGetDeviceIDs");
            foreach (var d in devices) result.Add((platforms[p], d));
        }
        return result;
    }

    internal static string ErrorName(int code) => code switch
    {
        0 => "CL_SUCCESS", -1 => "CL_DEVICE_NOT_FOUND", -2 => "CL_DEVICE_NOT_AVAILABLE", -3 => "CL_COMPILER_NOT_AVAILABLE",
        -4 => "CL_MEM_OBJECT_ALLOCATION_FAILURE", -5 => "CL_OUT_OF_RESOURCES", -6 => "CL_OUT_OF_HOST_MEMORY",
        -7 => "CL_PROFILING_INFO_NOT_AVAILABLE", -8 => "CL_MEM_COPY_OVERLAP", -9 => "CL_IMAGE_FORMAT_MISMATCH",
        -10 => "CL_IMAGE_FORMAT_NOT_SUPPORTED", -11 => "CL_BUILD_PROGRAM_FAILURE", -12 => "CL_MAP_FAILURE",
        -13 => "CL_MISALIGNED_SUB_BUFFER_OFFSET", -14 => "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        -15 => "CL_COMPILE_PROGRAM_FAILURE", -16 => "CL_LINKER_NOT_AVAILABLE", -17 => "CL_LINK_PROGRAM_FAILURE",
        -18 => "CL_DEVICE_PARTITION_FAILED", -19 => "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        -30 => "CL_INVALID_VALUE", -31 => "CL_INVALID_DEVICE_TYPE", -32 => "CL_INVALID_PLATFORM", -33 => "CL_INVALID_DEVICE",
        -34 => "CL_INVALID_CONTEXT", -35 => "CL_INVALID_QUEUE_PROPERTIES", -36 => "CL_INVALID_COMMAND_QUEUE",
        -37 => "CL_INVALID_HOST_PTR", -38 => "CL_INVALID_MEM_OBJECT", -39 => "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR",
        -40 => "CL_INVALID_IMAGE_SIZE", -41 => "CL_INVALID_SAMPLER", -42 => "CL_INVALID_BINARY", -43 => "CL_INVALID_BUILD_OPTIONS",
        -44 => "CL_INVALID_PROGRAM", -45 => "CL_INVALID_PROGRAM_EXECUTABLE", -46 => "CL_INVALID_KERNEL_NAME",
        -47 => "CL_INVALID_KERNEL_DEFINITION", -48 => "CL_INVALID_KERNEL", -49 => "CL_INVALID_ARG_INDEX",
        -50 => "CL_INVALID_ARG_VALUE", -51 => "CL_INVALID_ARG_SIZE", -52 => "CL_INVALID_KERNEL_ARGS",
        -53 => "CL_INVALID_WORK_DIMENSION", -54 => "CL_INVALID_WORK_GROUP_SIZE", -55 => "CL_INVALID_WORK_ITEM_SIZE",
        -56 => "CL_INVALID_GLOBAL_OFFSET", -57 => "CL_INVALID_EVENT_WAIT_LIST", -58 => "CL_INVALID_EVENT",
        -59 => "CL_INVALID_OPERATION", -60 => "CL_INVALID_GL_OBJECT", -61 => "CL_INVALID_BUFFER_SIZE",
        -62 => "CL_INVALID_MIP_LEVEL", -63 => "CL_INVALID_GLOBAL_WORK_SIZE", -64 => "CL_INVALID_PROPERTY",
        -1001 => "CL_PLATFORM_NOT_FOUND_KHR",
        _ => "CL_UNKNOWN_ERROR",
    };
}
