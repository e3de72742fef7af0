using ConvEngine.Optim;

namespace ConvEngine.Cli;

/// <summary>Builds the per-epoch learning-rate schedule named by <c>--schedule</c> (with optional linear warm-up).</summary>
internal static class Schedules
{
    public static LrScheduler? Create(string name, Optimizer optimizer, int epochs, int warmup)
    {
        int main = Math.Max(1, epochs - warmup);
        LrScheduler? inner = name switch
        {
            "none" => null,
            "step" => new StepLR(optimizer, stepSize: Math.Max(1, main / 3), gamma: 0.1f),
            "cosine" => new CosineAnnealingLR(optimizer, tMax: main),
            _ => throw new UsageException($"unknown schedule '{name}' (none, step or cosine)"),
        };
        return warmup > 0 ? (inner is null ? new WarmupLR(optimizer, warmup) : new WarmupLR(inner, warmup)) : inner;
    }
}
