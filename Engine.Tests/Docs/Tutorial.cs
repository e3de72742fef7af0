using System.Text;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace ConvEngine.Tests.Docs;

/// <summary>
/// Ties docs/tutorial.md to the compiled code. In the tutorial every snippet is marked <c>&lt;!-- snippet: NAME --&gt;</c>, followed by
/// a <c>```csharp</c> block and, when it prints, an <c>Output:</c> <c>```text</c> block. In TutorialSnippets.cs the same code sits between
/// <c>// snippet: NAME</c> and <c>// end snippet</c> inside a test method that runs it and compares what it printed with the text block.
/// Setting CONVENGINE_UPDATE_TUTORIAL=1 rewrites the doc's blocks from the code and its real output instead of comparing
/// (run once after editing a snippet, then review the diff).
/// </summary>
internal static class Tutorial
{
    public static bool Update => Environment.GetEnvironmentVariable("CONVENGINE_UPDATE_TUTORIAL") == "1";

    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ConvEngine.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("ConvEngine.sln not found above the test directory.");
        }
    }

    public static string DocPath => Path.Combine(RepoRoot, "docs", "tutorial.md");
    public static string SnippetSourcePath => Path.Combine(RepoRoot, "Engine.Tests", "Docs", "TutorialSnippets.cs");

    private static string Norm(string s) => s.Replace("\r\n", "\n");

    /// <summary>The snippets of TutorialSnippets.cs by name: the marked lines, dedented, trailing spaces trimmed.</summary>
    public static Dictionary<string, string> SourceSnippets()
    {
        var lines = Norm(File.ReadAllText(SnippetSourcePath)).Split('\n');
        var result = new Dictionary<string, string>();
        for (int i = 0; i < lines.Length; i++)
        {
            var m = Regex.Match(lines[i], @"^\s*// snippet: (\S+)\s*$");
            if (!m.Success) continue;
            var body = new List<string>();
            int j = i + 1;
            for (; j < lines.Length && !Regex.IsMatch(lines[j], @"^\s*// end snippet\s*$"); j++) body.Add(lines[j]);
            if (j == lines.Length) throw new InvalidOperationException($"Snippet '{m.Groups[1].Value}' has no '// end snippet'.");
            if (!result.TryAdd(m.Groups[1].Value, Dedent(body)))
                throw new InvalidOperationException($"Snippet '{m.Groups[1].Value}' is defined twice.");
            i = j;
        }
        return result;
    }

    private static string Dedent(List<string> body)
    {
        int indent = body.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", body.Select(l => (l.Length >= indent ? l[indent..] : l.TrimStart()).TrimEnd()));
    }

    public sealed record DocSnippet(string Name, string Code, string? Output);

    private static readonly Regex DocBlock = new(
        @"<!-- snippet: (?<name>\S+) -->\n```csharp\n(?<code>.*?)\n```\n(?:\nOutput:\n\n```text\n(?<out>.*?)```\n)?",
        RegexOptions.Singleline);

    /// <summary>The snippets of the tutorial in document order.</summary>
    public static List<DocSnippet> DocSnippets() =>
        DocBlock.Matches(Norm(File.ReadAllText(DocPath)))
            .Select(m => new DocSnippet(m.Groups["name"].Value, m.Groups["code"].Value, m.Groups["out"].Success ? m.Groups["out"].Value : null))
            .ToList();

    /// <summary>Compares <paramref name="actual"/> (what snippet <paramref name="name"/> printed) with the doc's output block (or rewrites it in update mode).</summary>
    public static void AssertOutput(string name, string actual)
    {
        actual = Norm(actual);
        if (Update)
        {
            var doc = Norm(File.ReadAllText(DocPath));
            var m = DocBlock.Matches(doc).FirstOrDefault(x => x.Groups["name"].Value == name)
                ?? throw new AssertionException($"docs/tutorial.md has no snippet '{name}'.");
            var code = SourceSnippets()[name];
            var replacement = $"<!-- snippet: {name} -->\n```csharp\n{code}\n```\n\nOutput:\n\n```text\n{actual}```\n";
            File.WriteAllText(DocPath, doc[..m.Index] + replacement + doc[(m.Index + m.Length)..]);
            return;
        }
        var snippet = DocSnippets().FirstOrDefault(s => s.Name == name) ?? throw new AssertionException($"docs/tutorial.md has no snippet '{name}'.");
        Assert.That(snippet.Output, Is.Not.Null, $"docs/tutorial.md shows no output for snippet '{name}'.");
        Assert.That(actual, Is.EqualTo(snippet.Output), $"The output of snippet '{name}' differs from docs/tutorial.md (run with CONVENGINE_UPDATE_TUTORIAL=1 to refresh).");
    }
}

/// <summary>Redirects Console.Out while alive; <see cref="Text"/> is what was printed.</summary>
internal sealed class ConsoleCapture : IDisposable
{
    private readonly TextWriter _previous = Console.Out;
    private readonly StringWriter _writer = new() { NewLine = "\n" };

    public ConsoleCapture() => Console.SetOut(_writer);

    public string Text => _writer.ToString();

    public void Dispose() => Console.SetOut(_previous);
}
