using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using NUnit.Framework;

namespace ConvEngine.Tests.Packaging;

/// <summary>
/// The package as a user gets it: <c>dotnet pack</c> the already built ConvEngine into a temporary local feed, check the
/// .nuspec, then build and run a fresh console program outside the repository that references ConvEngine from that feed
/// only (package source mapping), trains LeNet-5 for an epoch, saves and reloads a checkpoint and prints the accuracy.
/// </summary>
/// <remarks>
/// The package gets a unique prerelease version per run (0.1.0-consumer.&lt;time&gt;.&lt;pid&gt;) so the NuGet global package
/// cache can never hand back a stale copy; that version's folder is deleted from the cache afterwards. Other packages
/// (System.Numerics.Tensors) come from the machine's normal sources and cache.
/// </remarks>
[TestFixture, Category("Packaging"), NonParallelizable]
public class ConsumerTests
{
    private string _work = "";
    private string _feed = "";
    private string _version = "";
    private string _nupkg = "";

    [OneTimeSetUp]
    public void PackIntoLocalFeed()
    {
        _work = Path.Combine(Path.GetTempPath(), $"convengine-consumer-{Environment.ProcessId}-{Guid.NewGuid():N}");
        _feed = Path.Combine(_work, "feed");
        Directory.CreateDirectory(_feed);
        string suffix = $"consumer.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        // --no-build packs the ConvEngine.dll this test run was built against (dotnet test ran after the build).
        var r = Repo.Run("dotnet", ["pack", Path.Combine(Repo.Root, "Engine", "Engine.csproj"), "-c", Repo.Configuration, "--no-build",
                                    "-o", _feed, $"-p:VersionSuffix={suffix}", "-nologo"], Repo.Root, TimeSpan.FromMinutes(3));
        Assert.That(r.ExitCode, Is.EqualTo(0), $"dotnet pack failed:\n{r.Output}");
        var packages = Directory.GetFiles(_feed, "ConvEngine.*.nupkg").Where(f => !f.EndsWith(".snupkg", StringComparison.Ordinal)).ToArray();
        Assert.That(packages, Has.Length.EqualTo(1), $"one ConvEngine package in the feed:\n{r.Output}");
        _nupkg = packages[0];
        _version = Path.GetFileNameWithoutExtension(_nupkg)["ConvEngine.".Length..];
        Assert.That(_version, Does.EndWith(suffix));
    }

    [OneTimeTearDown]
    public void CleanUp()
    {
        try { if (_work.Length > 0) Directory.Delete(_work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        if (_version.Length == 0) return;
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        try { Directory.Delete(Path.Combine(cache, "convengine", _version.ToLowerInvariant()), recursive: true); }
        catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Test]
    public void PackageMetadataIsCompleteAndDependsOnlyOnSystemNumericsTensors()
    {
        using var zip = ZipFile.OpenRead(_nupkg);
        var nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/'));
        XDocument doc;
        using (var s = nuspecEntry.Open()) doc = XDocument.Load(s);
        var ns = doc.Root!.Name.Namespace;
        var meta = doc.Root.Element(ns + "metadata")!;
        string? Get(string name) => meta.Element(ns + name)?.Value;

        Assert.That(Get("id"), Is.EqualTo("ConvEngine"));
        Assert.That(Get("version"), Is.EqualTo(_version));
        Assert.That(Get("authors"), Is.Not.Empty);
        Assert.That(Get("description"), Has.Length.GreaterThan(20));
        Assert.That(meta.Element(ns + "license")?.Attribute("type")?.Value, Is.EqualTo("expression"));
        Assert.That(Get("license"), Is.EqualTo("MIT"));
        Assert.That(Get("readme"), Is.EqualTo("README.md"));
        Assert.That(Get("tags"), Does.Contain("cnn"));
        var repo = meta.Element(ns + "repository");
        Assert.That(repo?.Attribute("url")?.Value, Is.Not.Empty, "repository url");
        if (Directory.Exists(Path.Combine(Repo.Root, ".git")) || File.Exists(Path.Combine(Repo.Root, ".git")))
            Assert.That(repo?.Attribute("commit")?.Value, Does.Match("^[0-9a-f]{40}$"), "repository commit (from git)");

        var dependencies = meta.Descendants(ns + "dependency").Select(d => d.Attribute("id")!.Value).Distinct().ToList();
        Assert.That(dependencies, Is.EqualTo(new[] { "System.Numerics.Tensors" }), "ConvEngine depends only on System.Numerics.Tensors");

        var files = zip.Entries.Select(e => e.FullName).ToList();
        Assert.That(files, Does.Contain("lib/net10.0/ConvEngine.dll"));
        Assert.That(files, Does.Contain("lib/net10.0/ConvEngine.xml"), "XML documentation");
        Assert.That(files, Does.Contain("README.md"));
        Assert.That(files.Where(f => f.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)), Is.EqualTo(new[] { "lib/net10.0/ConvEngine.dll" }),
            "no test, benchmark or helper assemblies inside");
        Assert.That(File.Exists(Path.ChangeExtension(_nupkg, ".snupkg")), Is.True, "symbols package next to the package");
        using var symbols = ZipFile.OpenRead(Path.ChangeExtension(_nupkg, ".snupkg"));
        Assert.That(symbols.Entries.Select(e => e.FullName), Does.Contain("lib/net10.0/ConvEngine.pdb"));
    }

    [Test]
    public void AFreshConsoleProjectTrainsSavesAndReloadsLeNet5FromThePackage()
    {
        string app = Path.Combine(_work, "app");
        Directory.CreateDirectory(app);
        // Empty Directory.Build.* files stop MSBuild from importing anything from the directories above the temp folder.
        File.WriteAllText(Path.Combine(app, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(app, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(app, "nuget.config"), NuGetConfig(_feed, NormalSources()));
        File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="ConvEngine" Version="[{_version}]" />
              </ItemGroup>
            </Project>
            """);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Packaging", "Consumer", "Program.cs"), Path.Combine(app, "Program.cs"));

        var r = Repo.Run("dotnet", ["run", "-c", "Release", "-nologo"], app, TimeSpan.FromMinutes(5));
        TestContext.Out.WriteLine($"consumer run took {r.Elapsed.TotalSeconds:F1} s:\n{r.Output}");
        Assert.That(r.ExitCode, Is.EqualTo(0), $"the consumer program failed:\n{r.Output}");
        var m = Regex.Match(r.Output, @"accuracy=([0-9.]+)");
        Assert.That(m.Success, Is.True, $"no accuracy line:\n{r.Output}");
        double accuracy = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(accuracy, Is.GreaterThan(0.6), "one epoch of LeNet-5 on Shapes is far above chance (0.2)");

        // The package really came from the local feed: the restore recorded it with our unique version.
        string assets = File.ReadAllText(Path.Combine(app, "obj", "project.assets.json"));
        Assert.That(assets, Does.Contain($"ConvEngine/{_version}"));
    }

    /// <summary>The enabled package sources of this machine (what a user's restore would use), from <c>dotnet nuget list source</c>.</summary>
    private static List<string> NormalSources()
    {
        var r = Repo.Run("dotnet", ["nuget", "list", "source", "--format", "Short"], Path.GetTempPath(), TimeSpan.FromMinutes(1));
        var sources = r.Output.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("E ", StringComparison.Ordinal))
            .Select(l => l[2..].Trim())
            .Where(s => s.Length > 0)
            .ToList();
        return sources.Count > 0 ? sources : ["https://api.nuget.org/v3/index.json"];
    }

    private static string NuGetConfig(string feed, List<string> sources)
    {
        var adds = string.Join("\n", sources.Select((s, i) => $"    <add key=\"source{i}\" value=\"{System.Security.SecurityElement.Escape(s)}\" />"));
        var maps = string.Join("\n", sources.Select((_, i) => $"    <packageSource key=\"source{i}\"><package pattern=\"*\" /></packageSource>"));
        return $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{System.Security.SecurityElement.Escape(feed)}" />
            {adds}
              </packageSources>
              <packageSourceMapping>
                <!-- The most specific pattern wins: ConvEngine comes only from the local feed. -->
                <packageSource key="local"><package pattern="ConvEngine" /><package pattern="ConvEngine.*" /></packageSource>
            {maps}
              </packageSourceMapping>
            </configuration>
            """;
    }
}
