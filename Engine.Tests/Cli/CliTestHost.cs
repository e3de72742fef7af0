using ConvEngine.Cli;
using NUnit.Framework;
using Spectre.Console;

namespace ConvEngine.Tests.Cli;

/// <summary>Runs the convengine command handler in-process with captured, non-interactive output.</summary>
internal static class CliTestHost
{
    public static (int Exit, string Out, string Err) Run(params string[] args) => Run(CancellationToken.None, args);

    public static (int Exit, string Out, string Err) Run(CancellationToken cancellation, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 160;
        int exit = CliApp.Run(args, new CliContext { Console = console, Out = stdout, Error = stderr, Interactive = false, Cancellation = cancellation });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A failed command: non-zero exit, exactly one <c>error:</c> line containing <paramref name="expected"/>, no stack trace.</summary>
    public static void AssertOneLineError((int Exit, string Out, string Err) r, string expected)
    {
        Assert.That(r.Exit, Is.Not.Zero);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), $"exactly one error line, got: {r.Err}");
        Assert.That(lines[0], Does.StartWith("error: ").And.Contain(expected));
        Assert.That(r.Err + r.Out, Does.Not.Contain("   at "), "no stack trace");
    }
}
