using System.Globalization;
using System.Text.Json;
using ConvEngine.NN;
using ConvEngine.Serialization;

namespace ConvEngine.Cli;

/// <summary>What <c>train</c> records in a checkpoint's metadata, read back to rebuild the model and its preprocessing.</summary>
internal sealed record CheckpointInfo(string? Model, string? Data, int? NumClasses, IReadOnlyList<string>? ClassNames, int? Channels, int? Size, float? Mean, float? Std,
                                      IReadOnlyDictionary<string, string> Metadata)
{
    public static CheckpointInfo Read(string path)
    {
        if (!File.Exists(path)) throw new UsageException($"checkpoint '{path}' does not exist");
        var meta = SafeTensors.ReadHeader(path).Metadata;
        string? Get(string k) => meta.TryGetValue(k, out var v) ? v : null;
        int? Int(string k) => int.TryParse(Get(k), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : null;
        float? Float(string k) => float.TryParse(Get(k), NumberStyles.Float, CultureInfo.InvariantCulture, out float v) ? v : null;
        IReadOnlyList<string>? names = null;
        if (Get("class_names") is string json)
        {
            try { names = JsonSerializer.Deserialize<string[]>(json); }
            catch (JsonException) { names = null; }
        }
        return new CheckpointInfo(Get("model"), Get("data"), Int("num_classes"), names, Int("input_channels"), Int("input_size"), Float("normalize_mean"), Float("normalize_std"), meta);
    }

    /// <summary>Builds the model named by <paramref name="modelOverride"/> or the metadata and loads the weights into it.</summary>
    public (ModelSpec Spec, Module Net, int Channels, int Size, int Classes) LoadModel(string path, string? modelOverride, int? classesHint, IDevice device)
    {
        string name = modelOverride ?? Model ?? throw new UsageException($"checkpoint '{path}' does not say which model it holds: pass --model");
        if (modelOverride is not null && Model is not null && !string.Equals(Model, modelOverride, StringComparison.OrdinalIgnoreCase))
            throw new UsageException($"checkpoint '{path}' holds a {Model} but --model is {modelOverride}");
        var spec = ModelCatalog.Get(name);
        int classes = NumClasses ?? classesHint ?? 10;
        int channels = Channels ?? spec.DefaultChannels, size = Size ?? spec.DefaultSize;
        var net = spec.Create(classes, channels, size, device, 0);
        try { Checkpoint.Load(path, net); }
        catch (ArgumentException e) { throw new UsageException($"checkpoint '{path}' does not fit {spec.Name} with {classes} classes: {CliApp.OneLine(e.Message)}"); }
        net.Eval();
        return (spec, net, channels, size, classes);
    }
}
