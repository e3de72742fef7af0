using ConvEngine.Gpu;
using NUnit.Framework;

namespace ConvEngine.Tests.Devices;

/// <summary>Devices.Parse/List/Best and the failure modes of missing GPU runtimes.</summary>
public class DeviceSelectionTests
{
    [Test]
    public void ParseKnowsEveryForm()
    {
        Assert.That(ConvEngine.Gpu.Devices.Parse("cpu"), Is.SameAs(CpuDevice.Default));
        Assert.That(ConvEngine.Gpu.Devices.Parse(" CPU "), Is.SameAs(CpuDevice.Default));
        Assert.That(ConvEngine.Gpu.Devices.Parse("reference"), Is.SameAs(ReferenceDevice.Instance));
        var best = ConvEngine.Gpu.Devices.Parse("best");
        Assert.That(best, Is.Not.Null);
        if (best is GpuDevice g) g.Dispose();
        var e = Assert.Throws<ArgumentException>(() => ConvEngine.Gpu.Devices.Parse("tpu"));
        Assert.That(e!.ParamName, Is.EqualTo("name"));
        Assert.That(e.Message, Does.Contain("opencl:N"));
        Assert.Throws<ArgumentException>(() => ConvEngine.Gpu.Devices.Parse("opencl:x"));
        Assert.Throws<ArgumentException>(() => ConvEngine.Gpu.Devices.Parse("cpu:1"));
    }

    [Test]
    public void OpenClByNameAndIndex()
    {
        var list = ConvEngine.Gpu.Devices.List();
        Assert.That(list[0].Kind, Is.EqualTo("cpu"));
        var ocl = list.Where(d => d.Kind == "opencl").ToList();
        if (ocl.Count == 0)
        {
            var ex = Assert.Throws<GpuUnavailableException>(() => ConvEngine.Gpu.Devices.Parse("opencl"));
            Assert.That(ex!.Message, Does.Contain("OpenCL"));
            return;
        }
        using (var d = (GpuDevice)ConvEngine.Gpu.Devices.Parse(ocl[0].Spec))
            Assert.That(d.Name, Does.Contain(ocl[0].Name));
        var missing = Assert.Throws<GpuUnavailableException>(() => ConvEngine.Gpu.Devices.Parse($"opencl:{ocl.Count}"));
        Assert.That(missing!.Message, Does.Contain("does not exist"));
    }

    [Test]
    public void CudaIsUsableOrExplainsWhy()
    {
        if (ConvEngine.Gpu.Devices.CudaAvailable())
        {
            using var d = ConvEngine.Gpu.Devices.Cuda();
            Assert.That(d.Name, Does.StartWith("cuda("));
            return;
        }
        var e = Assert.Throws<GpuUnavailableException>(() => ConvEngine.Gpu.Devices.Cuda());
        Assert.That(e!.Message, Does.Contain("CUDA").Or.Contain("NVRTC"));
    }

    [Test]
    public void TensorsFromAnotherDeviceAreRejected()
    {
        GpuDevice d;
        try { d = ConvEngine.Gpu.Devices.OpenCl(); }
        catch (GpuUnavailableException e) { Assert.Ignore(e.Message); return; }
        using (d)
        {
            var host = Tensor.FromArray(CpuDevice.Default, [1f, 2f], 2);
            var ex = Assert.Throws<ArgumentException>(() => d.Fill(host, 0f));
            Assert.That(ex!.Message, Does.Contain("cpu"));
            var gpu = host.To(d);
            Assert.That(gpu.ToArray(), Is.EqualTo(new[] { 1f, 2f }));
            Assert.Throws<ArgumentOutOfRangeException>(() => d.CopyFromHost(new float[3], gpu.Buffer, 0));
            gpu.Dispose();
            Assert.Throws<ObjectDisposedException>(() => d.Fill(gpu, 1f));
        }
    }
}
