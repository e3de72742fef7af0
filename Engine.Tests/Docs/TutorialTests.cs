using NUnit.Framework;

namespace ConvEngine.Tests.Docs;

/// <summary>The tutorial's code blocks are exactly the code compiled and run by <see cref="TutorialSnippets"/>.</summary>
public class TutorialTests
{
    [Test]
    public void EveryCodeBlockIsACompiledSnippetAndViceVersa()
    {
        var source = Tutorial.SourceSnippets();
        var doc = Tutorial.DocSnippets();
        Assert.That(source, Is.Not.Empty);
        Assert.That(doc.Select(d => d.Name), Is.Unique, "each snippet appears once in the tutorial");
        Assert.That(doc.Select(d => d.Name), Is.EquivalentTo(source.Keys), "the tutorial shows every snippet of TutorialSnippets.cs and no other");
        foreach (var d in doc)
            Assert.That(d.Code, Is.EqualTo(source[d.Name]), $"The code of snippet '{d.Name}' in docs/tutorial.md differs from TutorialSnippets.cs (run with CONVENGINE_UPDATE_TUTORIAL=1 to refresh).");
    }

    [Test]
    public void TheTutorialHasNoUnmarkedCSharpBlocks()
    {
        var text = File.ReadAllText(Tutorial.DocPath).Replace("\r\n", "\n");
        int blocks = text.Split("```csharp\n").Length - 1;
        Assert.That(blocks, Is.EqualTo(Tutorial.DocSnippets().Count), "every ```csharp block is preceded by a snippet marker");
    }

    [Test]
    public void EverySnippetWithOutputIsCheckedByItsTest()
    {
        // A snippet whose test prints must show its output in the doc; the snippet tests compare it. Here: each snippet test
        // method names its snippet in an AssertOutput call, so no printed output goes unchecked.
        var src = File.ReadAllText(Tutorial.SnippetSourcePath);
        foreach (var name in Tutorial.SourceSnippets().Keys)
            Assert.That(src, Does.Contain($"Tutorial.AssertOutput(\"{name}\""), $"snippet '{name}' has no output check");
    }
}
