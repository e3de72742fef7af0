namespace ConvEngine.Training;

/// <summary>
/// Where the <see cref="Trainer"/> gets its mini-batches: images (N, C, H, W) on the model's device and N labels, one
/// enumeration per epoch. A data loader adapts to it with <see cref="BatchSource"/>.
/// </summary>
public interface IBatchSource
{
    /// <summary>The number of batches in one epoch (0 when unknown).</summary>
    int BatchCount { get; }

    /// <summary>The batches of epoch <paramref name="epoch"/> (1-based); a shuffling source may order them differently per epoch.</summary>
    /// <param name="epoch">The epoch number, 1-based.</param>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    IEnumerable<(Tensor Images, int[] Labels)> Batches(int epoch, CancellationToken cancellationToken);
}

/// <summary>Ready-made <see cref="IBatchSource"/> implementations.</summary>
public static partial class BatchSource
{
    /// <summary>A source that yields the same in-memory batches, in the same order, every epoch.</summary>
    /// <param name="batches">The batches.</param>
    public static IBatchSource FromList(IReadOnlyList<(Tensor Images, int[] Labels)> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        return new ListSource(batches);
    }

    private sealed class ListSource(IReadOnlyList<(Tensor Images, int[] Labels)> batches) : IBatchSource
    {
        public int BatchCount => batches.Count;

        public IEnumerable<(Tensor Images, int[] Labels)> Batches(int epoch, CancellationToken cancellationToken)
        {
            foreach (var b in batches)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return b;
            }
        }
    }
}
