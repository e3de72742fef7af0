using System.Diagnostics;
using System.Text;

namespace ConvEngine.Tests;

/// <summary>Where the repository and build outputs are, and a bounded child-process runner, for tests that drive tools.</summary>
public static class Repo
{
    /// <summary>The configuration this test assembly was built in (the one to use for sibling projects).</summary>
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    /// <summary>The repository root: the nearest ancestor of the test assembly's directory that holds ConvEngine.sln.</summary>
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "ConvEngine.sln"))) return dir.FullName;
            throw new InvalidOperationException($"ConvEngine.sln not found above {AppContext.BaseDirectory}.");
        }
    }

    /// <summary>The result of <see cref="Run"/>.</summary>
    public sealed record ProcessResult(int ExitCode, string Output, TimeSpan Elapsed);

    /// <summary>
    /// Runs <paramref name="file"/> with <paramref name="arguments"/> in <paramref name="workingDirectory"/>, capturing stdout and
    /// stderr together; kills the process tree and throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public static ProcessResult Run(string file, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout,
                                    IReadOnlyDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        // A child dotnet must not inherit the test host's MSBuild settings.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("MSBUILD", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        var output = new StringBuilder();
        var sw = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish within {timeout}:\n{output}");
        }
        p.WaitForExit(); // drains the asynchronous output readers
        lock (output) return new ProcessResult(p.ExitCode, output.ToString(), sw.Elapsed);
    }
}
