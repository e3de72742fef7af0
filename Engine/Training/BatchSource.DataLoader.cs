using ConvEngine.Data;

namespace ConvEngine.Training;

public static partial class BatchSource
{
    /// <summary>
    /// Adapts a <see cref="DataLoader"/>: epoch e enumerates <c>loader.Epoch(e)</c> (reshuffled from the loader's seed and
    /// the epoch number), and each batch is disposed once the trainer has moved on to the next one.
    /// </summary>
    /// <param name="loader">The loader.</param>
    public static IBatchSource From(DataLoader loader)
    {
        ArgumentNullException.ThrowIfNull(loader);
        return new LoaderSource(loader);
    }

    private sealed class LoaderSource(DataLoader loader) : IBatchSource
    {
        public int BatchCount => loader.BatchCount;

        public IEnumerable<(Tensor Images, int[] Labels)> Batches(int epoch, CancellationToken cancellationToken)
        {
            foreach (var batch in loader.Epoch(epoch, cancellationToken))
                using (batch)
                    yield return (batch.Images, batch.Labels);
        }
    }
}
