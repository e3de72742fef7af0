// A first-time user's program, compiled by ConsumerTests in a fresh project OUTSIDE the repository against the ConvEngine
// package from a local feed: train LeNet-5 for one epoch (Adam; one epoch of plain SGD is not reliably far above chance)
// on 4000 images of the built-in Shapes set, save a checkpoint with the optimizer state, load it into a new model and
// optimizer, and report the held-out accuracy of the reloaded model ("accuracy=0.xxxx"). Exit code 0: every step worked.
using ConvEngine;
using ConvEngine.Data;
using ConvEngine.Losses;
using ConvEngine.Models;
using ConvEngine.Optim;
using ConvEngine.Serialization;

const float mean = 0.2f, std = 0.3f;
var all = Shapes.Generate(5000, seed: 7);
var (train, test) = all.Split(0.2, seed: 1);
var model = new LeNet5(numClasses: Shapes.ClassNames.Count, seed: 1);
var loss = new SoftmaxCrossEntropy();
var adam = new Adam(model.Parameters(), lr: 3e-3f);
using (var loader = new DataLoader(train, batchSize: 32, new DataLoaderOptions { Seed = 1, Mean = [mean], Std = [std] }))
{
    double sum = 0;
    int batches = 0;
    foreach (var batch in loader.Epoch(0))
    {
        using (batch)
        {
            var logits = model.Forward(batch.Images);
            sum += loss.Forward(logits, batch.Labels);
            model.ZeroGrad();
            model.Backward(loss.Backward());
            adam.Step();
            batches++;
        }
    }
    Console.WriteLine($"epoch 0: {batches} batches of {train.Count} images, mean loss {sum / batches:F4}");
}

string path = Path.Combine(AppContext.BaseDirectory, "lenet5-shapes.safetensors");
Checkpoint.Save(path, model, adam.StateDict(), new Dictionary<string, string> { ["epoch"] = "1" });
var restored = new LeNet5(numClasses: Shapes.ClassNames.Count, seed: 99);
var contents = Checkpoint.Load(path, restored);
if (contents.Metadata["epoch"] != "1") { Console.Error.WriteLine("metadata lost"); return 1; }
new Adam(restored.Parameters(), lr: 3e-3f).LoadStateDict(contents.OptimizerState);

model.Eval();
restored.Eval();
var pixels = test.Images.ToArray();
for (int i = 0; i < pixels.Length; i++) pixels[i] = (pixels[i] - mean) / std;   // the loader's normalisation
using var images = Tensor.FromArray(pixels, test.Count, 1, Shapes.Size, Shapes.Size);
float[] original = model.Forward(images).ToArray(), reloaded = restored.Forward(images).ToArray();
if (!original.AsSpan().SequenceEqual(reloaded)) { Console.Error.WriteLine("the reloaded model predicts differently"); return 1; }
int classes = Shapes.ClassNames.Count, correct = 0;
for (int i = 0; i < test.Count; i++)
{
    var row = reloaded.AsSpan(i * classes, classes);
    int best = 0;
    for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    if (best == test.Label(i)) correct++;
}
Console.WriteLine(FormattableString.Invariant($"accuracy={(double)correct / test.Count:F4} on {test.Count} held-out images"));
return 0;
