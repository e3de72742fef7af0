using ConvEngine.Gpu.Cuda;
using ConvEngine.Gpu.OpenCl;

namespace ConvEngine.Gpu;

/// <summary>A device that is present on this machine.</summary>
/// <param name="Kind"><c>cpu</c>, <c>opencl</c> or <c>cuda</c>.</param>
/// <param name="Index">The index to pass to <see cref="Devices.OpenCl"/> or <see cref="Devices.Cuda"/> (0 for the CPU).</param>
/// <param name="Name">The driver's name for it.</param>
public sealed record DeviceInfo(string Kind, int Index, string Name)
{
    /// <summary>The name <see cref="Devices.Parse"/> accepts for this device, e.g. <c>opencl:1</c>.</summary>
    public string Spec => Kind == "cpu" ? "cpu" : $"{Kind}:{Index}";
}

/// <summary>
/// Device choice: the CPU, an OpenCL device or a CUDA device, by index or by name. GPU devices returned here are new
/// objects owned by the caller (dispose them to free the context). Missing runtimes raise <see cref="GpuUnavailableException"/>.
/// </summary>
public static class Devices
{
    /// <summary>The shared multi-threaded CPU device (<see cref="CpuDevice.Default"/>).</summary>
    public static IDevice Cpu() => CpuDevice.Default;

    /// <summary>Opens OpenCL device <paramref name="index"/>.</summary>
    /// <param name="index">Index into the OpenCL devices of <see cref="List"/>.</param>
    public static OpenClDevice OpenCl(int index = 0) => new(index);

    /// <summary>Opens CUDA device <paramref name="index"/>.</summary>
    /// <param name="index">CUDA device ordinal.</param>
    public static CudaDevice Cuda(int index = 0) => new(index);

    /// <summary>Whether <see cref="Cuda"/> would succeed for device 0 (opens and closes it).</summary>
    public static bool CudaAvailable() => TryOpen(() => Cuda(0));

    /// <summary>Whether <see cref="OpenCl"/> would succeed for device 0 (opens and closes it).</summary>
    public static bool OpenClAvailable() => TryOpen(() => OpenCl(0));

    private static bool TryOpen(Func<GpuDevice> open)
    {
        try { open().Dispose(); return true; }
        catch (Exception e) when (Unavailable(e)) { return false; }
    }

    /// <summary>Failures that mean "this backend cannot be used here" rather than a bug: missing runtime, device or entry point.</summary>
    private static bool Unavailable(Exception e) =>
        e is GpuUnavailableException or GpuException or DllNotFoundException or EntryPointNotFoundException;

    /// <summary>
    /// The fastest device present: a CUDA GPU, else an OpenCL GPU, else the CPU. An OpenCL CPU driver such as PoCL is never
    /// chosen: it runs on the same cores as <see cref="CpuDevice"/>, which is faster there.
    /// </summary>
    public static IDevice Best()
    {
        try { return Cuda(0); }
        catch (Exception e) when (Unavailable(e)) { }
        try
        {
            var all = OpenClDevice.Enumerate();
            for (int i = 0; i < all.Count; i++)
                if (OpenClDevice.IsGpu(all[i].Device)) return OpenCl(i);
        }
        catch (Exception e) when (Unavailable(e)) { }
        return Cpu();
    }

    /// <summary>Every device present, CPU first; runtimes that are missing contribute nothing.</summary>
    public static IReadOnlyList<DeviceInfo> List()
    {
        var list = new List<DeviceInfo> { new("cpu", 0, CpuDevice.Default.Name) };
        try
        {
            var all = OpenClDevice.Enumerate();
            for (int i = 0; i < all.Count; i++) list.Add(new("opencl", i, OpenClDevice.DeviceName(all[i].Device)));
        }
        catch (Exception e) when (Unavailable(e)) { }
        try
        {
            var names = CudaDevice.EnumerateNames();
            for (int i = 0; i < names.Count; i++) list.Add(new("cuda", i, names[i]));
        }
        catch (Exception e) when (Unavailable(e)) { }
        return list;
    }

    /// <summary>
    /// A device from a name: <c>cpu</c>, <c>reference</c>, <c>opencl</c>, <c>opencl:N</c>, <c>cuda</c>, <c>cuda:N</c> or <c>best</c>
    /// (case-insensitive), as given to <c>convengine train --device</c>.
    /// </summary>
    /// <param name="name">The device name.</param>
    /// <exception cref="ArgumentException">The name is not one of the forms above.</exception>
    /// <exception cref="GpuUnavailableException">The named GPU runtime or device is not present.</exception>
    public static IDevice Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var s = name.Trim().ToLowerInvariant();
        int colon = s.IndexOf(':');
        string kind = colon < 0 ? s : s[..colon];
        int index = 0;
        if (colon >= 0 && !int.TryParse(s[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index))
            throw new ArgumentException($"Device '{name}': the index after ':' must be a non-negative integer.", nameof(name));
        return kind switch
        {
            "cpu" when colon < 0 => Cpu(),
            "reference" when colon < 0 => ReferenceDevice.Instance,
            "best" when colon < 0 => Best(),
            "opencl" => OpenCl(index),
            "cuda" => Cuda(index),
            _ => throw new ArgumentException($"Unknown device '{name}': expected cpu, reference, opencl, opencl:N, cuda, cuda:N or best.", nameof(name)),
        };
    }
}
