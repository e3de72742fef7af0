namespace ConvEngine.Cli;

/// <summary>The entry point of the <c>convengine</c> tool.</summary>
internal static class Program
{
    private static int Main(string[] args) => CliApp.Run(args);
}
