using ConvEngine.Cli;
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
}
