namespace ConvEngine;

/// <summary>Shape helpers shared by the library: validation and the formatting used in error messages.</summary>
internal static class ShapeUtil
{
    public static int[] Validate(int[]? shape, string argName)
    {
        if (shape is null) throw new ArgumentNullException(argName);
        long p = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
                throw new ArgumentException($"Shape {Format(shape)} has a negative dimension {shape[i]} at index {i}.", argName);
            p *= shape[i];
            if (p > int.MaxValue)
                throw new ArgumentException($"Shape {Format(shape)} has more than {int.MaxValue} elements.", argName);
        }
        return (int[])shape.Clone();
    }

    public static int Product(ReadOnlySpan<int> shape)
    {
        long p = 1;
        foreach (var d in shape) p *= d;
        return checked((int)p);
    }

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>Throws unless <paramref name="t"/> has rank <paramref name="rank"/>; the message names the argument and the expected layout.</summary>
    public static void RequireRank(Tensor t, int rank, string argName, string layout)
    {
        if (t.Rank != rank)
            throw new ArgumentException($"Expected a rank-{rank} tensor {layout} but got shape {t.ShapeString} (rank {t.Rank}).", argName);
    }

    /// <summary>Throws unless dimension <paramref name="dim"/> of <paramref name="t"/> equals <paramref name="expected"/>.</summary>
    public static void RequireDim(Tensor t, int dim, int expected, string argName, string what)
    {
        if (t.Dim(dim) != expected)
            throw new ArgumentException($"Expected {what} = {expected} (dimension {dim}) but got shape {t.ShapeString}.", argName);
    }

    /// <summary>Throws unless <paramref name="t"/> has exactly <paramref name="shape"/>.</summary>
    public static void RequireShape(Tensor t, ReadOnlySpan<int> shape, string argName)
    {
        if (!t.ShapeRef.AsSpan().SequenceEqual(shape))
            throw new ArgumentException($"Expected shape {Format(shape)} but got {t.ShapeString}.", argName);
    }
}
