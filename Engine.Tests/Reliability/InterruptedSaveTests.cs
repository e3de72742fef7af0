using System.Diagnostics;
using ConvEngine.NN;
using ConvEngine.Serialization;
using NUnit.Framework;

namespace ConvEngine.Tests.Reliability;

/// <summary>
/// Kills a process that saves a 16 MB checkpoint in a loop (Engine.Tests.SaveWriter) at random moments and checks that the
/// target file is always a complete, loadable checkpoint of one generation: the previous one or a newer one, never a torn
/// mix, never missing. Saves write a temporary file in the same directory and rename it over the target.
/// </summary>
[NonParallelizable]
public class InterruptedSaveTests
{
    public const int Kills = 8;
    private const int InFeatures = 4096;   // Linear(4096, 1000): 4,097,000 floats, about 16 MB per checkpoint

    private string _dir = "";

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), $"convengine-savekill-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void TearDown()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string WriterPath => Path.Combine(Repo.Root, "Engine.Tests.SaveWriter", "bin", Repo.Configuration, "net10.0", "ConvEngine.SaveWriter.dll");

    /// <summary>Loads the checkpoint and returns its generation after checking every value belongs to that generation.</summary>
    private static int LoadGeneration(string path)
    {
        var model = new Linear(InFeatures, 1000, seed: 5);
        var contents = Checkpoint.Load(path, model);
        int generation = int.Parse(contents.Metadata["generation"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(model.Weight.Value.ToArray().All(v => v == generation), Is.True, $"every weight of generation {generation}");
        Assert.That(model.Bias!.Value.ToArray().All(v => v == generation), Is.True, $"every bias of generation {generation}");
        return generation;
    }

    [Test]
    public void KillingAWriterAtRandomMomentsNeverLosesOrTearsTheCheckpoint()
    {
        Assert.That(File.Exists(WriterPath), Is.True, $"the helper program is built with the tests: {WriterPath}");
        string target = Path.Combine(_dir, "model.safetensors");
        // Generation 0, written by this process.
        var model = new Linear(InFeatures, 1000, seed: 1);
        model.Weight.Value.CopyFrom(new float[model.Weight.Value.Length]);
        model.Bias!.Value.CopyFrom(new float[1000]);
        Checkpoint.Save(target, model, metadata: new Dictionary<string, string> { ["generation"] = "0" });

        var rng = new Random(20261122);
        int generation = LoadGeneration(target), next = 1, midWrite = 0;
        for (int kill = 0; kill < Kills; kill++)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { WriterPath, target, InFeatures.ToString(System.Globalization.CultureInfo.InvariantCulture), next.ToString(System.Globalization.CultureInfo.InvariantCulture) })
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            int saves = 0;
            p.OutputDataReceived += (_, e) => { if (e.Data?.StartsWith("saved", StringComparison.Ordinal) == true) Interlocked.Increment(ref saves); };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            // Let it complete 0 or 1 saves, then kill it a random time into the next one.
            int wantSaves = rng.Next(2);
            var sw = Stopwatch.StartNew();
            while (Volatile.Read(ref saves) < wantSaves && !p.HasExited && sw.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(1);
            Thread.Sleep(rng.Next(0, 120));
            Assert.That(p.HasExited, Is.False, "the writer runs until killed");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            if (Directory.GetFiles(_dir, "*.tmp").Length > 0) midWrite++;   // killed during a write: its temporary file is left behind
            foreach (var tmp in Directory.GetFiles(_dir, "*.tmp")) File.Delete(tmp);

            int loaded = LoadGeneration(target);
            Assert.That(loaded, Is.GreaterThanOrEqualTo(generation), $"kill {kill}: the checkpoint went back in time");
            Assert.That(loaded, Is.LessThan(next + Volatile.Read(ref saves) + 1), $"kill {kill}: a generation that was never written");
            TestContext.Out.WriteLine($"kill {kill}: {Volatile.Read(ref saves)} saves completed, file holds generation {loaded}");
            generation = loaded;
            next = Math.Max(next, loaded + 1) + 100;
        }
        TestContext.Out.WriteLine($"{Kills} kills, {midWrite} of them during a write (temporary file left behind)");
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { target }));
    }
}
