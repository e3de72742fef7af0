using System.Reflection;
using System.Runtime.InteropServices;

namespace ConvEngine.Gpu;

/// <summary>
/// Maps the logical library names of the bindings ("OpenCL", "cuda", "nvrtc") to the files of the installed runtimes.
/// NVRTC's file name carries the CUDA major version, so a list is tried; <c>CONVENGINE_NVRTC</c> overrides it with a path or name.
/// </summary>
internal static class NativeLibraries
{
    internal const string OpenCl = "OpenCL";
    internal const string Cuda = "cuda";
    internal const string Nvrtc = "nvrtc";

    private static readonly Dictionary<string, nint> Loaded = new();
    private static readonly object Gate = new();

    static NativeLibraries() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);

    /// <summary>Installs the resolver (idempotent; the static constructor does the work).</summary>
    internal static void EnsureResolver() { }

    internal static string[] Candidates(string name) => name switch
    {
        OpenCl => OperatingSystem.IsWindows() ? ["OpenCL.dll"] : OperatingSystem.IsMacOS() ? ["/System/Library/Frameworks/OpenCL.framework/OpenCL"] : ["libOpenCL.so.1", "libOpenCL.so"],
        Cuda => OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"],
        Nvrtc => NvrtcCandidates(),
        _ => [name],
    };

    private static string[] NvrtcCandidates()
    {
        var list = new List<string>();
        var env = Environment.GetEnvironmentVariable("CONVENGINE_NVRTC");
        if (!string.IsNullOrWhiteSpace(env)) list.Add(env);
        if (OperatingSystem.IsWindows())
            list.AddRange(["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll", "nvrtc64_111_0.dll", "nvrtc64_110_0.dll"]);
        else
        {
            list.AddRange(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so.11.0", "libnvrtc.so"]);
            foreach (var dir in new[] { "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib" })
                list.AddRange(new[] { "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so" }.Select(f => Path.Combine(dir, f)));
        }
        return list.ToArray();
    }

    /// <summary>Loads the library for a logical name, or returns 0 with the names that were tried.</summary>
    internal static nint TryLoad(string name, out string tried)
    {
        var candidates = Candidates(name);
        tried = string.Join(", ", candidates);
        lock (Gate)
        {
            if (Loaded.TryGetValue(name, out var h)) return h;
            foreach (var file in candidates)
                if (NativeLibrary.TryLoad(file, out h)) { Loaded[name] = h; return h; }
        }
        return 0;
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name is OpenCl or Cuda or Nvrtc ? TryLoad(name, out _) : 0;
}
