namespace ConvEngine;

/// <summary>How a convolution fills the border outside its input (the seeds' zero, mirror and edge padding).</summary>
public enum PaddingMode
{
    /// <summary>Pad with zeros.</summary>
    Zeros,
    /// <summary>Mirror the input without repeating the edge: <c>d c b | a b c d | c b a</c>.</summary>
    Reflect,
    /// <summary>Repeat the edge value: <c>a a a | a b c d | d d d</c>.</summary>
    Replicate,
}

/// <summary>Element-wise functions provided by every device.</summary>
public enum UnaryOp
{
    /// <summary>y = x.</summary>
    Identity,
    /// <summary>y = max(x, 0).</summary>
    Relu,
    /// <summary>y = x for x &gt; 0, else alpha·x.</summary>
    LeakyRelu,
    /// <summary>y = x for x &gt; 0, else alpha·(eˣ − 1).</summary>
    Elu,
    /// <summary>y = 1 / (1 + e⁻ˣ).</summary>
    Sigmoid,
    /// <summary>y = tanh(x).</summary>
    Tanh,
    /// <summary>y = alpha·x.</summary>
    Scale,
    /// <summary>y = x².</summary>
    Square,
    /// <summary>y = 1 / sqrt(x + alpha) (used for batch-norm's inverse standard deviation).</summary>
    RsqrtPlus,
}

/// <summary>The geometry of a 2-D convolution over one image: input (C, H, W), kernel (KH, KW), stride, zero padding and dilation.</summary>
public readonly record struct ConvGeometry
{
    /// <summary>Creates the geometry and computes the output size; throws when the kernel does not fit the padded input.</summary>
    public ConvGeometry(int channels, int height, int width, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, int dilationH, int dilationW)
    {
        Channels = channels; Height = height; Width = width; KernelH = kernelH; KernelW = kernelW;
        StrideH = strideH; StrideW = strideW; PadH = padH; PadW = padW; DilationH = dilationH; DilationW = dilationW;
        OutH = ConvMath.OutputSize(height, kernelH, strideH, padH, dilationH);
        OutW = ConvMath.OutputSize(width, kernelW, strideW, padW, dilationW);
    }

    /// <summary>Input channels.</summary>
    public int Channels { get; init; }
    /// <summary>Input height.</summary>
    public int Height { get; init; }
    /// <summary>Input width.</summary>
    public int Width { get; init; }
    /// <summary>Kernel height.</summary>
    public int KernelH { get; init; }
    /// <summary>Kernel width.</summary>
    public int KernelW { get; init; }
    /// <summary>Vertical stride.</summary>
    public int StrideH { get; init; }
    /// <summary>Horizontal stride.</summary>
    public int StrideW { get; init; }
    /// <summary>Zero padding above and below.</summary>
    public int PadH { get; init; }
    /// <summary>Zero padding left and right.</summary>
    public int PadW { get; init; }
    /// <summary>Vertical dilation.</summary>
    public int DilationH { get; init; }
    /// <summary>Horizontal dilation.</summary>
    public int DilationW { get; init; }
    /// <summary>Output height.</summary>
    public int OutH { get; init; }
    /// <summary>Output width.</summary>
    public int OutW { get; init; }
    /// <summary>Rows of the im2col matrix: C·KH·KW.</summary>
    public int ColRows => Channels * KernelH * KernelW;
    /// <summary>Columns of the im2col matrix: OH·OW.</summary>
    public int ColCols => OutH * OutW;
}

/// <summary>The geometry of 2-D pooling over planes of size (H, W).</summary>
public readonly record struct PoolGeometry
{
    /// <summary>Creates a sliding-window pooling geometry and computes the output size (floor mode, as PyTorch's default).</summary>
    public PoolGeometry(int height, int width, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, bool countIncludePad = true)
    {
        Height = height; Width = width; KernelH = kernelH; KernelW = kernelW; StrideH = strideH; StrideW = strideW;
        PadH = padH; PadW = padW; CountIncludePad = countIncludePad; Adaptive = false;
        OutH = ConvMath.OutputSize(height, kernelH, strideH, padH, 1);
        OutW = ConvMath.OutputSize(width, kernelW, strideW, padW, 1);
    }

    /// <summary>An adaptive geometry: output cell (i, j) averages rows floor(i·H/OH)..ceil((i+1)·H/OH) and likewise for columns.</summary>
    public static PoolGeometry AdaptiveOf(int height, int width, int outH, int outW) => new()
    {
        Height = height, Width = width, OutH = outH, OutW = outW, Adaptive = true, CountIncludePad = true,
        KernelH = 0, KernelW = 0, StrideH = 0, StrideW = 0, PadH = 0, PadW = 0,
    };

    /// <summary>Input height.</summary>
    public int Height { get; init; }
    /// <summary>Input width.</summary>
    public int Width { get; init; }
    /// <summary>Window height (unused when <see cref="Adaptive"/>).</summary>
    public int KernelH { get; init; }
    /// <summary>Window width (unused when <see cref="Adaptive"/>).</summary>
    public int KernelW { get; init; }
    /// <summary>Vertical stride.</summary>
    public int StrideH { get; init; }
    /// <summary>Horizontal stride.</summary>
    public int StrideW { get; init; }
    /// <summary>Implicit padding above and below (−∞ for max, 0 for average).</summary>
    public int PadH { get; init; }
    /// <summary>Implicit padding left and right.</summary>
    public int PadW { get; init; }
    /// <summary>Average pooling: whether padded cells count in the divisor (PyTorch's count_include_pad).</summary>
    public bool CountIncludePad { get; init; }
    /// <summary>Whether windows are computed adaptively from the output size.</summary>
    public bool Adaptive { get; init; }
    /// <summary>Output height.</summary>
    public int OutH { get; init; }
    /// <summary>Output width.</summary>
    public int OutW { get; init; }

    /// <summary>The input rows [start, end) of output row <paramref name="oh"/> clipped to the input, and the divisor rows (for average pooling with padding).</summary>
    public (int Start, int End, int PaddedCount) RowWindow(int oh) => Window(oh, Height, OutH, KernelH, StrideH, PadH);

    /// <summary>The input columns [start, end) of output column <paramref name="ow"/> clipped to the input, and the divisor columns.</summary>
    public (int Start, int End, int PaddedCount) ColWindow(int ow) => Window(ow, Width, OutW, KernelW, StrideW, PadW);

    private (int, int, int) Window(int o, int size, int outSize, int k, int s, int p)
    {
        if (Adaptive)
        {
            int start = (int)((long)o * size / outSize);
            int end = (int)(((long)(o + 1) * size + outSize - 1) / outSize);
            return (start, end, end - start);
        }
        int st = o * s - p;
        int en = Math.Min(st + k, size + p);
        int padded = en - st;
        return (Math.Max(st, 0), Math.Min(en, size), padded);
    }
}

/// <summary>Explicit padding amounts for <see cref="IDevice.Pad2d"/>.</summary>
/// <param name="Top">Rows added above.</param>
/// <param name="Bottom">Rows added below.</param>
/// <param name="Left">Columns added on the left.</param>
/// <param name="Right">Columns added on the right.</param>
public readonly record struct Padding2d(int Top, int Bottom, int Left, int Right);

/// <summary>The seeds' arithmetic of convolution and pooling sizes.</summary>
public static class ConvMath
{
    /// <summary>
    /// Output size of a convolution or pooling along one axis: ⌊(in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1.
    /// Throws <see cref="ArgumentException"/> when the (dilated) kernel is larger than the padded input or a parameter is out of range.
    /// </summary>
    /// <param name="inputSize">Input size along the axis.</param>
    /// <param name="kernel">Kernel size.</param>
    /// <param name="stride">Stride (positive).</param>
    /// <param name="padding">Padding on each side (zero or positive).</param>
    /// <param name="dilation">Dilation (positive).</param>
    public static int OutputSize(int inputSize, int kernel, int stride = 1, int padding = 0, int dilation = 1)
    {
        if (inputSize <= 0) throw new ArgumentOutOfRangeException(nameof(inputSize), inputSize, "Input size must be positive.");
        if (kernel <= 0) throw new ArgumentOutOfRangeException(nameof(kernel), kernel, "Kernel size must be positive.");
        if (stride <= 0) throw new ArgumentOutOfRangeException(nameof(stride), stride, "Stride must be positive.");
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "Padding must be zero or positive.");
        if (dilation <= 0) throw new ArgumentOutOfRangeException(nameof(dilation), dilation, "Dilation must be positive.");
        int effective = dilation * (kernel - 1) + 1;
        int padded = inputSize + 2 * padding;
        if (effective > padded)
            throw new ArgumentException($"Kernel of size {kernel} (dilation {dilation}, effective {effective}) is larger than the padded input {inputSize} + 2·{padding} = {padded}.", nameof(kernel));
        return (padded - effective) / stride + 1;
    }
}
