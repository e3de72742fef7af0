// Checkpoints: a model's state_dict plus optional optimizer state and string metadata in one safetensors file.
//   model entries      : their state_dict names (conv1.weight, bn1.running_mean, ...)
//   optimizer entries  : "optimizer." + name (e.g. optimizer.conv1.weight.momentum)
//   metadata           : __metadata__ (string → string)
// Saving is atomic (SafeTensors.Save). Loading validates the file, then Module.LoadStateDict (strict names by default; a shape
// mismatch always throws ArgumentException naming the tensor; nothing changes unless every entry checks out).
using ConvEngine.NN;

namespace ConvEngine.Serialization;

/// <summary>What <see cref="Checkpoint.Load"/> returns besides filling the model.</summary>
/// <param name="OptimizerState">The optimizer entries with the <c>optimizer.</c> prefix removed, in file order (host tensors).</param>
/// <param name="Metadata">The file's string metadata.</param>
public sealed record CheckpointContents(IReadOnlyDictionary<string, Tensor> OptimizerState, IReadOnlyDictionary<string, string> Metadata);

/// <summary>Saves and restores a model (and optimizer state) as a safetensors checkpoint.</summary>
public static class Checkpoint
{
    /// <summary>The name prefix of optimizer entries.</summary>
    public const string OptimizerPrefix = "optimizer.";

    /// <summary>Atomically writes <paramref name="model"/>'s state_dict, the optimizer state and metadata to <paramref name="path"/>.</summary>
    /// <param name="path">The destination file (replaced atomically).</param>
    /// <param name="model">The model whose parameters and buffers are saved under their state_dict names.</param>
    /// <param name="optimizerState">Optional optimizer tensors, saved under <c>optimizer.</c> + name.</param>
    /// <param name="metadata">Optional string metadata (epoch, accuracy, ...).</param>
    public static void Save(string path, Module model, IReadOnlyDictionary<string, Tensor>? optimizerState = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var all = new OrderedDictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in model.StateDict())
        {
            if (name.StartsWith(OptimizerPrefix, StringComparison.Ordinal))
                throw new ArgumentException($"Model tensor '{name}' collides with the optimizer prefix '{OptimizerPrefix}'.", nameof(model));
            all.Add(name, t);
        }
        if (optimizerState is not null)
            foreach (var (name, t) in optimizerState)
                all.Add(OptimizerPrefix + name, t);
        SafeTensors.Save(path, all, metadata);
    }

    /// <summary>
    /// Reads <paramref name="path"/> and copies the model entries into <paramref name="model"/> (through
    /// <see cref="Module.LoadStateDict"/>); returns the optimizer entries (prefix removed) and the metadata.
    /// Throws <see cref="InvalidDataException"/> for a malformed file and <see cref="ArgumentException"/> when names
    /// (with <paramref name="strict"/>) or shapes do not match the model.
    /// </summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="model">The model to fill.</param>
    /// <param name="strict">Whether the model entries must match the model's state_dict names exactly.</param>
    public static CheckpointContents Load(string path, Module model, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (tensors, metadata) = SafeTensors.LoadWithMetadata(path);
        var modelState = new OrderedDictionary<string, Tensor>(StringComparer.Ordinal);
        var optimizer = new OrderedDictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in tensors)
        {
            if (name.StartsWith(OptimizerPrefix, StringComparison.Ordinal)) optimizer.Add(name[OptimizerPrefix.Length..], t);
            else modelState.Add(name, t);
        }
        model.LoadStateDict(modelState, strict);
        return new CheckpointContents(optimizer, metadata);
    }
}
