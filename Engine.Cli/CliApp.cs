using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace ConvEngine.Cli;

/// <summary>Where a command writes, and whether it may draw live widgets.</summary>
internal sealed class CliContext
{
    public required IAnsiConsole Console { get; init; }
    public required TextWriter Out { get; init; }
    public required TextWriter Error { get; init; }
    /// <summary>True when stdout is an interactive terminal: live progress bars; otherwise plain lines (CI, pipes, tee).</summary>
    public bool Interactive { get; init; }
    /// <summary>Where to read answers from (the Enter between the events of <c>step</c>); null: never ask.</summary>
    public TextReader? In { get; init; }
    /// <summary>True when stdin is an interactive terminal (not redirected), so waiting for Enter makes sense.</summary>
    public bool InputInteractive { get; init; }
    public CancellationToken Cancellation { get; init; }
}

/// <summary>Builds the command tree and runs it: parse errors and exceptions become one <c>error: ...</c> line and a non-zero exit.</summary>
internal static class CliApp
{
    public const int ExitOk = 0, ExitFailure = 1, ExitUsage = 2, ExitCancelled = 130;

    /// <summary>Runs the tool with the process console (Ctrl+C cancels training cleanly).</summary>
    public static int Run(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cts.IsCancellationRequested) return; // a second Ctrl+C kills the process
            e.Cancel = true;
            cts.Cancel();
        };
        bool interactive = !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null
                           && Environment.GetEnvironmentVariable("TERM") is not "dumb";
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Out),
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!interactive) console.Profile.Width = 120;
        return Run(args, new CliContext
        {
            Console = console, Out = Console.Out, Error = Console.Error, Interactive = interactive, Cancellation = cts.Token,
            In = Console.In, InputInteractive = !Console.IsInputRedirected,
        });
    }

    /// <summary>Runs the tool in-process writing to the given context (tests use this with string writers).</summary>
    public static int Run(string[] args, CliContext ctx)
    {
        RootCommand root;
        ParseResult parsed;
        if (args.Length == 0)
        {
            // No command: show the overview (as git does) and exit with the usage code.
            Build(ctx).Parse(["--help"]).Invoke(new InvocationConfiguration { Output = ctx.Out, Error = ctx.Error });
            return ExitUsage;
        }
        try
        {
            root = Build(ctx);
            parsed = root.Parse(args);
        }
        catch (Exception e)
        {
            ctx.Error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitFailure;
        }
        if (parsed.Errors.Count > 0)
        {
            // An unknown word explains more than the "required command was not provided" that comes with it.
            var first = parsed.Errors.FirstOrDefault(e => e.Message.Contains("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            ctx.Error.WriteLine($"error: {OneLine(first.Message)} (see 'convengine {CommandPath(parsed)}--help')");
            return ExitUsage;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = ctx.Out, Error = ctx.Error, EnableDefaultExceptionHandler = false });
        }
        catch (OperationCanceledException)
        {
            ctx.Error.WriteLine("error: cancelled");
            return ExitCancelled;
        }
        catch (UsageException e)
        {
            ctx.Error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitUsage;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Unwrap the reflection/aggregate layers so the message is the useful one; never print a stack trace.
            while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && e.InnerException is not null) e = e.InnerException!;
            ctx.Error.WriteLine($"error: {OneLine(e.Message)}");
            if (Environment.GetEnvironmentVariable("CONVENGINE_DEBUG") == "1") ctx.Error.WriteLine(e);
            return ExitFailure;
        }
    }

    private static string CommandPath(ParseResult r)
    {
        var names = new List<string>();
        for (var c = r.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            if (c.Command is not RootCommand) names.Insert(0, c.Command.Name);
        return names.Count == 0 ? "" : string.Join(' ', names) + " ";
    }

    internal static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static RootCommand Build(CliContext ctx)
    {
        var root = new RootCommand("convengine: train, evaluate, run and inspect the ConvEngine CNN models (pure C#, CPU).");
        root.Subcommands.Add(TrainCommand.Create(ctx));
        root.Subcommands.Add(EvalCommand.Create(ctx));
        root.Subcommands.Add(PredictCommand.Create(ctx));
        root.Subcommands.Add(SummaryCommand.Create(ctx));
        root.Subcommands.Add(StepCommand.Create(ctx));
        root.Subcommands.Add(VisualizeCommand.Create(ctx));
        root.Subcommands.Add(DemoCommand.Create(ctx));
        return root;
    }

    // ---- option helpers shared by the commands ----

    internal static Option<string> ModelOption(bool required = true)
    {
        var o = new Option<string>("--model", "-m")
        {
            Description = "Model architecture: " + string.Join(", ", ModelCatalog.Names) + ".",
            Required = required,
        };
        if (!required) o.DefaultValueFactory = _ => "lenet5";
        o.AcceptOnlyFromAmong([.. ModelCatalog.Names]);
        return o;
    }

    internal static Option<string> DataOption() => new("--data", "-d")
    {
        Description = "Data set: fashion-mnist, mnist, shapes, or a folder holding the four IDX files (train-/t10k- images and labels).",
        DefaultValueFactory = _ => "fashion-mnist",
    };

    internal static Option<int> PositiveInt(string name, int dflt, string description, int min = 1)
    {
        var o = new Option<int>(name) { Description = description, DefaultValueFactory = _ => dflt };
        o.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < min) r.AddError($"{name} must be at least {min.ToString(CultureInfo.InvariantCulture)} but is {v.ToString(CultureInfo.InvariantCulture)}");
        });
        return o;
    }

    internal static Option<double> NonNegativeDouble(string name, double dflt, string description, bool strictlyPositive = false)
    {
        var o = new Option<double>(name) { Description = description, DefaultValueFactory = _ => dflt };
        o.Validators.Add(r =>
        {
            double v = r.GetValueOrDefault<double>();
            if (!double.IsFinite(v) || v < 0 || (strictlyPositive && v == 0))
                r.AddError($"{name} must be {(strictlyPositive ? "positive" : "zero or positive")} but is {v.ToString(CultureInfo.InvariantCulture)}");
        });
        return o;
    }

    internal static Option<int> ThreadsOption() => PositiveInt("--threads", 0, "CPU threads for the kernels (0: all cores).", min: 0);

    /// <summary>The --device option: cpu (default), opencl[:N], cuda[:N], reference or best.</summary>
    internal static Option<string> DeviceOption() => new("--device")
    {
        Description = "Where tensors live and kernels run: cpu (default), opencl, opencl:N, cuda, cuda:N, reference or best.",
        DefaultValueFactory = _ => "cpu",
    };

    /// <summary>The device named by --device; the CPU device honours --threads. A missing GPU runtime becomes a one-line usage error.</summary>
    internal static IDevice CreateDevice(string name, int threads)
    {
        if (string.Equals(name, "cpu", StringComparison.OrdinalIgnoreCase))
            return threads == 0 ? CpuDevice.Default : new CpuDevice(threads);
        try
        {
            return ConvEngine.Gpu.Devices.Parse(name);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--device: {e.Message}");
        }
    }
}

/// <summary>A bad combination of arguments found after parsing (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
