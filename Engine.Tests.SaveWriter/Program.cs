// Saves a checkpoint over and over until killed: generation g fills every weight of a Linear(inFeatures, 1000) model with
// the value g and records "generation" = g in the metadata. InterruptedSaveTests kills this process at random moments and
// checks that the target file is always a complete checkpoint of some generation (never a torn mix or a missing file).
// Usage: ConvEngine.SaveWriter <path> <inFeatures> <firstGeneration>
// Prints "saved <g>" after each completed save.
using ConvEngine;
using ConvEngine.NN;
using ConvEngine.Serialization;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: ConvEngine.SaveWriter <path> <inFeatures> <firstGeneration>");
    return 2;
}
string path = args[0];
int inFeatures = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
int generation = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
var model = new Linear(inFeatures, 1000, device: CpuDevice.Default, seed: 1);
var weight = new float[model.Weight.Value.Length];
var bias = new float[model.Bias!.Value.Length];
while (true)
{
    Array.Fill(weight, generation);
    Array.Fill(bias, generation);
    model.Weight.Value.CopyFrom(weight);
    model.Bias.Value.CopyFrom(bias);
    Checkpoint.Save(path, model, metadata: new Dictionary<string, string> { ["generation"] = generation.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    Console.WriteLine($"saved {generation}");
    generation++;
}
