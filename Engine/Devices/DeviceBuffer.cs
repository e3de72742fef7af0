namespace ConvEngine;

/// <summary>Storage for <see cref="Length"/> float32 values owned by a device.</summary>
public abstract class DeviceBuffer
{
    /// <summary>Creates a buffer record.</summary>
    /// <param name="device">The owning device.</param>
    /// <param name="length">Number of float32 elements.</param>
    protected DeviceBuffer(IDevice device, int length)
    {
        Device = device;
        Length = length;
    }

    /// <summary>The owning device.</summary>
    public IDevice Device { get; }

    /// <summary>Number of float32 elements.</summary>
    public int Length { get; }

    /// <summary>Returns native or pooled memory to its owner; a no-op for garbage-collected host memory.</summary>
    public virtual void Release() { }
}

/// <summary>A buffer in host memory, used by <see cref="CpuDevice"/> and <see cref="ReferenceDevice"/>.</summary>
public sealed class HostBuffer : DeviceBuffer
{
    /// <summary>Creates a zero-filled host buffer.</summary>
    /// <param name="device">The owning device.</param>
    /// <param name="length">Number of elements.</param>
    public HostBuffer(IDevice device, int length) : base(device, length) => Data = new float[length];

    /// <summary>The elements.</summary>
    public float[] Data { get; }
}
