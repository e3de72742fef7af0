using System.Reflection;
using System.Text.RegularExpressions;

namespace ConvEngine.Gpu;

/// <summary>
/// The embedded kernel sources (<c>Kernels/*.cl</c>) and the dialect prelude (<c>Kernels/prelude.h</c>).
/// A family's compilable text is the prelude followed by the family file; the same text is built as OpenCL C or CUDA C.
/// </summary>
internal static partial class KernelSources
{
    /// <summary>The kernel families, one file each.</summary>
    internal static readonly string[] Families = ["gemm", "conv", "pool", "elementwise", "reduce", "norm", "loss"];

    private static readonly Dictionary<string, string> Cache = new();

    /// <summary>The raw text of an embedded file such as <c>prelude.h</c> or <c>gemm.cl</c>.</summary>
    internal static string Raw(string file)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(file, out var s)) return s;
            using var stream = typeof(KernelSources).Assembly.GetManifestResourceStream("ConvEngine.Gpu.Kernels." + file)
                ?? throw new InvalidOperationException($"Embedded kernel source '{file}' is missing from {typeof(KernelSources).Assembly.GetName().Name}.");
            using var reader = new StreamReader(stream);
            s = reader.ReadToEnd();
            Cache[file] = s;
            return s;
        }
    }

    /// <summary>Prelude + family source, with a #line directive so compiler messages point into the family file.</summary>
    internal static string Program(string family) =>
        Raw("prelude.h") + "\n#line 1 \"" + family + ".cl\"\n" + Raw(family + ".cl");

    /// <summary>The kernel entry points declared in a family (<c>KERNEL void name(</c>).</summary>
    internal static IReadOnlyList<string> EntryPoints(string family) =>
        EntryRegex().Matches(Raw(family + ".cl")).Select(m => m.Groups[1].Value).ToList();

    /// <summary>The family that defines <paramref name="kernel"/>.</summary>
    internal static string FamilyOf(string kernel)
    {
        lock (Owners)
        {
            if (Owners.Count == 0)
                foreach (var f in Families) foreach (var k in EntryPoints(f)) Owners[k] = f;
            return Owners.TryGetValue(kernel, out var fam) ? fam : throw new ArgumentException($"No kernel named '{kernel}'.", nameof(kernel));
        }
    }

    private static readonly Dictionary<string, string> Owners = new();

    [GeneratedRegex(@"KERNEL\s+void\s+(\w+)\s*\(")]
    private static partial Regex EntryRegex();
}
