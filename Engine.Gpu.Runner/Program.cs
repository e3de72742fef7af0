// Runs the device conformance fixture (the same NUnit test class CI runs) without a test host: for each backend named on
// the command line (default: cuda opencl), OneTimeSetUp, every [Test] / [TestCaseSource] / [Values] case, OneTimeTearDown.
// Prints one line per case and a summary; exit code 0 when nothing failed, 1 otherwise, 2 when no backend could run.
using System.Diagnostics;
using System.Reflection;
using ConvEngine.Tests.Devices;
using NUnit.Framework;

var kinds = args.Length > 0 ? args : ["cuda", "opencl"];
Console.WriteLine("devices present:");
foreach (var d in ConvEngine.Gpu.Devices.List()) Console.WriteLine($"  {d.Spec,-10} {d.Name}");
int passed = 0, failed = 0, ran = 0;
foreach (var kind in kinds)
{
    var fixture = new DeviceConformanceTests(kind);
    try { fixture.Open(); }
    catch (IgnoreException e) { Console.WriteLine($"[{kind}] SKIPPED: {e.Message}"); continue; }
    ran++;
    foreach (var method in typeof(DeviceConformanceTests).GetMethods(BindingFlags.Public | BindingFlags.Instance))
        foreach (var arguments in Cases(method))
        {
            var name = $"{method.Name}({string.Join(", ", arguments)})";
            var sw = Stopwatch.StartNew();
            try
            {
                method.Invoke(fixture, arguments);
                passed++;
                Console.WriteLine($"[{kind}] PASS {name} {sw.ElapsedMilliseconds} ms");
            }
            catch (TargetInvocationException e)
            {
                failed++;
                Console.WriteLine($"[{kind}] FAIL {name}: {e.InnerException?.GetType().Name}: {e.InnerException?.Message}");
            }
        }
    fixture.Close();
}
Console.WriteLine($"{passed} passed, {failed} failed, {ran} of {kinds.Length} backends ran");
return ran == 0 ? 2 : failed > 0 ? 1 : 0;

static IEnumerable<object?[]> Cases(MethodInfo method)
{
    if (method.GetCustomAttribute<TestCaseSourceAttribute>() is { } source)
    {
        var data = (System.Collections.IEnumerable)typeof(DeviceConformanceTests)
            .GetMethod(source.SourceName!, BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)!.Invoke(null, null)!;
        foreach (TestCaseData c in data) yield return c.Arguments;
        yield break;
    }
    if (method.GetCustomAttribute<TestAttribute>() is null) yield break;
    var ps = method.GetParameters();
    if (ps.Length == 0) { yield return []; yield break; }
    if (ps.Length == 1 && ps[0].ParameterType.IsEnum)   // [Values] over an enum
    {
        foreach (var v in Enum.GetValues(ps[0].ParameterType)) yield return [v];
        yield break;
    }
    throw new NotSupportedException($"Test {method.Name} has parameters the runner does not expand.");
}
