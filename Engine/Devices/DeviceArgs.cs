namespace ConvEngine;

/// <summary>Argument checks shared by every device's implementation of the batched convolution primitives (host and GPU).</summary>
internal static class DeviceArgs
{
    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="arg"/> unless <paramref name="t"/> has at least <paramref name="length"/> elements.</summary>
    public static void NeedLength(Tensor t, long length, string arg)
    {
        if (t.Length < length)
            throw new ArgumentException($"Tensor {arg} {t.ShapeString} has {t.Length} elements but the operation needs {length}.", arg);
    }

    /// <summary>Validates an Im2ColBatch/Col2ImBatch call; returns the elements per image (C·H·W).</summary>
    public static int Batch(Tensor images4d, int firstImage, int images, in ConvGeometry g, Tensor col, string imagesArg, string colArg)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstImage);
        ArgumentOutOfRangeException.ThrowIfNegative(images);
        int per = g.Channels * g.Height * g.Width;
        NeedLength(images4d, (long)(firstImage + images) * per, imagesArg);
        NeedLength(col, (long)g.ColRows * images * g.ColCols, colArg);
        return per;
    }

    /// <summary>Validates a SwapAxes call (sizes, offsets, no overlap); returns the block length rows·cols·inner.</summary>
    public static long Swap(Tensor x, int xOffset, int rows, int cols, int inner, Tensor y, int yOffset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        ArgumentOutOfRangeException.ThrowIfNegative(inner);
        ArgumentOutOfRangeException.ThrowIfNegative(xOffset);
        ArgumentOutOfRangeException.ThrowIfNegative(yOffset);
        long len = (long)rows * cols * inner;
        NeedLength(x, xOffset + len, nameof(x));
        NeedLength(y, yOffset + len, nameof(y));
        if (ReferenceEquals(x.Buffer, y.Buffer) && xOffset < yOffset + len && yOffset < xOffset + len)
            throw new ArgumentException($"SwapAxes needs x and y not to overlap, but both are the same buffer at offsets {xOffset} and {yOffset} with {len} elements each.", nameof(y));
        return len;
    }
}
