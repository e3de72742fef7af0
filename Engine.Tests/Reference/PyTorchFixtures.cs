using System.Text.Json;
using ConvEngine.NN;
using NUnit.Framework;

namespace ConvEngine.Tests.PyTorchReference;

/// <summary>
/// One case of a PyTorch reference fixture (written by tools/make_fixtures.py into Fixtures/pytorch/&lt;family&gt;.json).
/// ToString is the case name, so NUnit shows it in the test name.
/// </summary>
public sealed class FixtureCase(string family, string name, JsonElement json)
{
    public string Family { get; } = family;
    public string Name { get; } = name;
    public JsonElement Json { get; } = json;

    public string Kind => Json.GetProperty("kind").GetString()!;
    public FixtureArgs Args => new(Json.GetProperty("args"), Name);
    public JsonElement this[string key] => Json.GetProperty(key);
    public bool Has(string key) => Json.TryGetProperty(key, out _);

    /// <summary>The tensor stored under <paramref name="key"/>, on <paramref name="device"/> (default the CPU device).</summary>
    public Tensor Tensor(string key, IDevice? device = null) => PyTorchFixtures.ToTensor(Json.GetProperty(key), device);

    public override string ToString() => Name;
}

/// <summary>A case's (or a network layer's) constructor arguments, by PyTorch argument name.</summary>
public readonly struct FixtureArgs(JsonElement args, string caseName)
{
    public string CaseName { get; } = caseName;
    public int Int(string key) => Get(key).GetInt32();
    public float Float(string key) => Get(key).GetSingle();
    public bool Bool(string key) => Get(key).GetBoolean();
    public string String(string key) => Get(key).GetString()!;
    public float Float(string key, float fallback) => args.TryGetProperty(key, out var v) ? v.GetSingle() : fallback;
    public bool Bool(string key, bool fallback) => args.TryGetProperty(key, out var v) ? v.GetBoolean() : fallback;

    /// <summary>An argument written as [H, W].</summary>
    public (int H, int W) Pair(string key)
    {
        var a = Get(key);
        return (a[0].GetInt32(), a[1].GetInt32());
    }

    private JsonElement Get(string key) => args.TryGetProperty(key, out var v)
        ? v
        : throw new InvalidDataException($"Fixture {CaseName}: argument '{key}' is missing.");
}

/// <summary>Loads the fixture files and compares engine results to them with the documented tolerance (tools/README.md).</summary>
public static class PyTorchFixtures
{
    /// <summary>Relative tolerance for every comparison.</summary>
    public const double RTol = 1e-4;

    /// <summary>The directory holding the fixture files in the test output.</summary>
    public static string Directory
    {
        get
        {
            string baseDir;
            try { baseDir = TestContext.CurrentContext.TestDirectory; }
            catch (Exception) { baseDir = AppContext.BaseDirectory; }
            if (string.IsNullOrEmpty(baseDir)) baseDir = AppContext.BaseDirectory;
            return Path.Combine(baseDir, "Fixtures", "pytorch");
        }
    }

    private static readonly Dictionary<string, FixtureCase[]> Cache = [];

    /// <summary>Every case of family <paramref name="family"/> (file <c>&lt;family&gt;.json</c>); throws when the file is missing or empty.</summary>
    public static FixtureCase[] Load(string family)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(family, out var cached)) return cached;
            string path = Path.Combine(Directory, family + ".json");
            if (!File.Exists(path))
                throw new FileNotFoundException($"PyTorch fixture file not found (regenerate with /usr/bin/python3 tools/make_fixtures.py): {path}", path);
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement.Clone();
            var cases = root.GetProperty("cases").EnumerateArray()
                .Select(c => new FixtureCase(family, c.GetProperty("name").GetString()!, c))
                .ToArray();
            if (cases.Length == 0) throw new InvalidDataException($"{path} holds no cases.");
            Cache[family] = cases;
            return cases;
        }
    }

    /// <summary>The devices every case runs on: the fast CPU backend and the naive reference kernels.</summary>
    public static readonly string[] DeviceNames = ["cpu", "reference"];

    /// <summary>The device named in a test case.</summary>
    public static IDevice Device(string name) => name switch
    {
        "cpu" => CpuDevice.Default,
        "reference" => ReferenceDevice.Instance,
        _ => throw new ArgumentException($"Unknown device '{name}'.", nameof(name)),
    };

    /// <summary>
    /// NUnit test cases (case, device name) for a family, optionally only those whose kind is in <paramref name="kinds"/>,
    /// one per case and device, named "case, device".
    /// </summary>
    public static IEnumerable<TestCaseData> Source(string family, params string[] kinds)
    {
        var cases = Load(family).Where(c => kinds.Length == 0 || kinds.Contains(c.Kind)).ToArray();
        if (cases.Length == 0) throw new InvalidDataException($"Fixture family '{family}' has no case of kind {string.Join("/", kinds)}.");
        foreach (var c in cases)
            foreach (var d in DeviceNames)
                yield return new TestCaseData(c, d).SetArgDisplayNames(c.Name, d);
    }

    public static int[] Shape(JsonElement tensor) => tensor.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();

    public static float[] Data(JsonElement tensor)
    {
        var data = tensor.GetProperty("data");
        var a = new float[data.GetArrayLength()];
        int i = 0;
        foreach (var e in data.EnumerateArray()) a[i++] = e.GetSingle();
        return a;
    }

    public static Tensor ToTensor(JsonElement tensor, IDevice? device = null) =>
        ConvEngine.Tensor.FromArray(device ?? CpuDevice.Default, Data(tensor), Shape(tensor));

    /// <summary>The absolute floor for a tensor whose largest magnitude is <paramref name="maxAbs"/>: 1e-5·max|expected| + 1e-6.</summary>
    public static double ATol(double maxAbs) => 1e-5 * maxAbs + 1e-6;

    /// <summary>Asserts actual ≈ expected element-wise: shape equal, |a − e| ≤ 1e-4·|e| + 1e-5·max|e| + 1e-6.</summary>
    public static void AssertClose(Tensor actual, JsonElement expected, string what, bool compareShape = true)
    {
        ArgumentNullException.ThrowIfNull(actual);
        var shape = Shape(expected);
        if (compareShape)
            Assert.That(actual.Shape, Is.EqualTo(shape), $"{what}: shape");
        var e = Data(expected);
        TestUtil.AssertClose(actual.ToArray(), e, RTol, ATol(MaxAbs(e)), what);
    }

    /// <summary>
    /// Compares one gradient of a case whose gradients (dX and every parameter gradient) have largest magnitude
    /// <paramref name="caseScale"/>. As <see cref="AssertClose(Tensor, JsonElement, string, bool)"/>, except for a gradient
    /// that is zero in exact arithmetic (every expected value below 1e-9·caseScale, i.e. float64 noise; for example a
    /// conv bias directly before a training-mode batch norm): the engine computes it as a float32 sum of terms of the
    /// case's scale that cancel, so it is checked against the case's scale, |a| ≤ 1e-5·caseScale + 1e-6.
    /// </summary>
    public static void AssertGradClose(Tensor actual, JsonElement expected, double caseScale, string what)
    {
        var e = Data(expected);
        if (caseScale > 0 && MaxAbs(e) <= 1e-9 * caseScale)
        {
            Assert.That(actual.Shape, Is.EqualTo(Shape(expected)), $"{what}: shape");
            TestUtil.AssertClose(actual.ToArray(), e, RTol, ATol(caseScale), what + " (zero in exact arithmetic)");
        }
        else
        {
            AssertClose(actual, expected, what);
        }
    }

    /// <summary>The largest magnitude over dX and every parameter gradient of a case.</summary>
    public static double GradScale(FixtureCase c, string dxKey = "dx") =>
        c["grads"].EnumerateObject().Select(p => MaxAbs(Data(p.Value))).Append(MaxAbs(Data(c[dxKey]))).Max();

    private static double MaxAbs(float[] e) => e.Length == 0 ? 0 : e.Max(v => Math.Abs((double)v));

    /// <summary>Asserts a scalar result ≈ expected with the same rule (max|expected| = |expected|).</summary>
    public static void AssertClose(double actual, double expected, string what)
    {
        double tol = ATol(Math.Abs(expected)) + RTol * Math.Abs(expected);
        Assert.That(actual, Is.EqualTo(expected).Within(tol), what);
    }

    /// <summary>
    /// Loads the fixture's <c>state</c> (PyTorch state_dict names) into <paramref name="module"/> with
    /// <see cref="Module.LoadStateDict"/> (strict). A buffer the engine stores with another shape but the same number of values
    /// (num_batches_tracked: PyTorch's 0-d long, maybe [1] here) is given the engine's shape; everything else must match exactly.
    /// </summary>
    public static void LoadState(Module module, FixtureCase c)
    {
        var own = module.StateDict();
        var state = new Dictionary<string, Tensor>();
        foreach (var prop in c["state"].EnumerateObject())
        {
            var t = ToTensor(prop.Value);
            if (prop.Name.EndsWith("num_batches_tracked", StringComparison.Ordinal) && own.TryGetValue(prop.Name, out var target)
                && target.Length == t.Length && !target.Shape.SequenceEqual(t.Shape))
                t = ConvEngine.Tensor.FromArray(t.ToArray(), target.Shape);
            state[prop.Name] = t;
        }
        module.LoadStateDict(state, strict: true);
    }

    /// <summary>
    /// Runs a layer case: load the state, set train/eval mode, Forward the input, Backward the upstream gradient, and compare
    /// y, dX, every parameter gradient and (where recorded) every buffer after the forward.
    /// </summary>
    public static void RunLayerCase(FixtureCase c, string deviceName)
    {
        var device = Device(deviceName);
        var module = FixtureModules.Layer(c.Kind, c.Args, device);
        if (c["mode"].GetString() == "eval") module.Eval(); else module.Train();
        LoadState(module, c);
        var x = c.Tensor("input", device);
        var xCopy = x.ToArray();

        var y = module.Forward(x);
        AssertClose(y, c["y"], $"{c.Name}: y");

        Assert.That(y.Device, Is.SameAs(device), $"{c.Name}: y is on the input's device");
        var dX = module.Backward(c.Tensor("dy", device));
        AssertClose(dX, c["dx"], $"{c.Name}: dX");
        Assert.That(x.ToArray(), Is.EqualTo(xCopy), $"{c.Name}: the layer modified its input");

        var grads = c["grads"].EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        var parameters = module.Parameters().ToList();
        Assert.That(parameters.Select(p => p.Name), Is.EquivalentTo(grads.Keys), $"{c.Name}: parameter names");
        foreach (var p in parameters)
            AssertGradClose(p.Grad, grads[p.Name], GradScale(c), $"{c.Name}: d{p.Name}");

        AssertBuffers(module, c);
    }

    /// <summary>Compares every buffer of <paramref name="module"/> to the case's <c>buffers_after</c> (or asserts there are none).</summary>
    public static void AssertBuffers(Module module, FixtureCase c)
    {
        var buffers = module.NamedBuffers().ToList();
        if (!c.Has("buffers_after"))
        {
            Assert.That(buffers, Is.Empty, $"{c.Name}: PyTorch's module has no buffers");
            return;
        }
        var after = c["buffers_after"].EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        Assert.That(buffers.Select(b => b.Name), Is.EquivalentTo(after.Keys), $"{c.Name}: buffer names");
        foreach (var (name, t) in buffers)
            AssertClose(t, after[name], $"{c.Name}: {name} after the forward", compareShape: !name.EndsWith("num_batches_tracked", StringComparison.Ordinal));
    }
}
