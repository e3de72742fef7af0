using System.Diagnostics;
using System.Text.RegularExpressions;
using ConvEngine.Gpu;
using NUnit.Framework;

namespace ConvEngine.Tests.Devices;

/// <summary>
/// The CUDA half of the kernels cannot run without an NVIDIA GPU, but it can be compiled: every kernel family goes through
/// the CUDA branch of the prelude and Debian's clang (<c>-x cuda --cuda-device-only</c>, no CUDA installation needed) to PTX,
/// and the PTX must define every entry point. A small shim supplies what NVRTC provides built in.
/// </summary>
public class CudaKernelCompileTests
{
    /// <summary>What NVRTC has built in and clang without the CUDA headers does not: qualifiers, thread indices, math declarations.</summary>
    private const string Shim = """
        #define __global__ __attribute__((global))
        #define __device__ __attribute__((device))
        #define __shared__ __attribute__((shared))
        #include <__clang_cuda_builtin_vars.h>
        extern "C" __device__ float expf(float); extern "C" __device__ float logf(float);
        extern "C" __device__ float tanhf(float); extern "C" __device__ float sqrtf(float);
        extern "C" __device__ double exp(double); extern "C" __device__ double log(double);
        extern "C" __device__ float __int_as_float(int);

        """;

    private static string? FindClang()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            foreach (var name in new[] { "clang", "clang-19", "clang-16", "clang-15", "clang-14" })
            {
                var path = Path.Combine(dir, name);
                if (File.Exists(path)) return path;
            }
        return null;
    }

    [Test]
    public void EveryKernelCompilesToPtxAsCudaC()
    {
        var clang = FindClang();
        if (clang is null) Assert.Ignore("clang not found: install it (`apt-get install clang`) to compile the kernels as CUDA C; ./build.sh test does.");
        var dir = Directory.CreateTempSubdirectory("convengine-cuda-");
        try
        {
            var results = KernelSources.Families.AsParallel().WithDegreeOfParallelism(4).Select(family =>
            {
                var src = Path.Combine(dir.FullName, family + ".cu");
                var ptx = Path.Combine(dir.FullName, family + ".ptx");
                File.WriteAllText(src, Shim + KernelSources.Program(family));
                var psi = new ProcessStartInfo(clang)
                {
                    RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
                };
                foreach (var a in new[] { "-x", "cuda", "--cuda-device-only", "-nocudainc", "-nocudalib", "--cuda-gpu-arch=sm_70", "-O2", "-Werror", "-S", src, "-o", ptx })
                    psi.ArgumentList.Add(a);
                using var p = Process.Start(psi)!;
                var stderr = p.StandardError.ReadToEndAsync();
                p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                return (Family: family, Exit: p.ExitCode, Log: stderr.Result, Ptx: File.Exists(ptx) ? File.ReadAllText(ptx) : "");
            }).ToList();
            int entries = 0;
            foreach (var r in results)
            {
                Assert.That(r.Exit, Is.EqualTo(0), $"{r.Family}.cl does not compile as CUDA C:\n{r.Log}");
                foreach (var kernel in KernelSources.EntryPoints(r.Family))
                {
                    Assert.That(Regex.IsMatch(r.Ptx, @"\.entry\s+" + kernel + @"\s*\("), $"PTX of {r.Family}.cl lacks .entry {kernel}");
                    entries++;
                }
            }
            Assert.That(entries, Is.EqualTo(KernelSources.Families.Sum(f => KernelSources.EntryPoints(f).Count)));
            Assert.That(entries, Is.GreaterThanOrEqualTo(25), "every kernel family was found");
        }
        finally { dir.Delete(recursive: true); }
    }

    [Test]
    public void EveryKernelBuildsAsOpenCl()
    {
        GpuDevice device;
        try { device = ConvEngine.Gpu.Devices.OpenCl(); }
        catch (GpuUnavailableException e) { Assert.Ignore(e.Message); return; }
        using (device)
        {
            // A tensor op from each family forces its build; a build failure throws GpuException with the compiler log.
            var t = new Tensor(device, 4, 4);
            Assert.DoesNotThrow(() =>
            {
                device.Fill(t, 1f);
                device.Gemm(false, false, 4, 4, 4, 1f, t, 0, 4, t, 0, 4, 0f, new Tensor(device, 16), 0, 4);
                device.Im2Col(t.Reshape(1, 1, 4, 4), 0, new ConvGeometry(1, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1), new Tensor(device, 36));
                device.MaxPool2d(t, new PoolGeometry(4, 4, 2, 2, 2, 2, 0, 0), new Tensor(device, 4));
                device.Sum(t);
                device.BatchNormStatistics(t, 4, 4, 1, new Tensor(device, 4), new Tensor(device, 4));
                device.DropoutMask(1, 2, 0.5f, 2f, t);
            });
            Assert.That(device.Name, Does.StartWith("opencl("));
        }
    }
}
