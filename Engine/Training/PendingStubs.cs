// TEMPORARY: minimal stand-ins with the signatures of the losses/optimizer APIs on the `norms` branch, so the trainer
// builds before they land. Delete this file when main provides ConvEngine.Losses and ConvEngine.Optim.
namespace ConvEngine.Losses
{
    /// <summary>Stub: softmax cross-entropy.</summary>
    public sealed class SoftmaxCrossEntropy
    {
        private Tensor? _d;
        /// <summary>Stub.</summary>
        public double Forward(Tensor logits, int[] labels)
        {
            _d = logits.ZerosLike();
            return logits.Device.SoftmaxCrossEntropy(logits, labels.AsSpan(0, logits.Dim(0)), _d);
        }
        /// <summary>Stub.</summary>
        public Tensor Backward() => _d ?? throw new InvalidOperationException("Backward before Forward.");
    }
}

namespace ConvEngine.Optim
{
    using ConvEngine.NN;

    /// <summary>Stub: optimizer base.</summary>
    public abstract class Optimizer(IEnumerable<Parameter> parameters, float lr)
    {
        /// <summary>Stub.</summary>
        protected readonly Parameter[] Params = parameters.ToArray();
        /// <summary>Stub.</summary>
        public float LearningRate { get; set; } = lr;
        /// <summary>Stub.</summary>
        public abstract void Step();
        /// <summary>Stub.</summary>
        public void ZeroGrad() { foreach (var p in Params) p.ZeroGrad(); }
        /// <summary>Stub.</summary>
        public IReadOnlyDictionary<string, Tensor> StateDict() => new Dictionary<string, Tensor>();
    }

    /// <summary>Stub: SGD.</summary>
    public sealed class Sgd(IEnumerable<Parameter> parameters, float lr, float momentum = 0, float weightDecay = 0, bool nesterov = false, float dampening = 0) : Optimizer(parameters, lr)
    {
        private Tensor?[]? _v;
        private bool _first = true;
        /// <summary>Stub.</summary>
        public override void Step()
        {
            _v ??= Params.Select(p => momentum != 0 ? p.Value.ZerosLike() : null).ToArray();
            for (int i = 0; i < Params.Length; i++)
                Params[i].Value.Device.SgdStep(Params[i].Value, Params[i].Grad, _v[i], LearningRate, momentum, dampening, weightDecay, nesterov, _first);
            _first = false;
        }
    }

    /// <summary>Stub: Adam.</summary>
    public class Adam(IEnumerable<Parameter> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0) : Optimizer(parameters, lr)
    {
        private Tensor[]? _m, _s;
        private int _t;
        /// <summary>Stub.</summary>
        protected virtual bool Decoupled => false;
        /// <summary>Stub.</summary>
        public override void Step()
        {
            _m ??= Params.Select(p => p.Value.ZerosLike()).ToArray();
            _s ??= Params.Select(p => p.Value.ZerosLike()).ToArray();
            _t++;
            for (int i = 0; i < Params.Length; i++)
                Params[i].Value.Device.AdamStep(Params[i].Value, Params[i].Grad, _m[i], _s[i], LearningRate, beta1, beta2, eps, weightDecay, Decoupled, _t);
        }
    }

    /// <summary>Stub: AdamW.</summary>
    public sealed class AdamW(IEnumerable<Parameter> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 1e-2f) : Adam(parameters, lr, beta1, beta2, eps, weightDecay)
    {
        /// <summary>Stub.</summary>
        protected override bool Decoupled => true;
    }

    /// <summary>Stub: scheduler base.</summary>
    public abstract class LrScheduler
    {
        private int _last;
        /// <summary>Stub.</summary>
        protected LrScheduler(Optimizer optimizer) { Optimizer = optimizer; BaseLearningRate = optimizer.LearningRate; }
        /// <summary>Stub.</summary>
        public Optimizer Optimizer { get; }
        /// <summary>Stub.</summary>
        public float BaseLearningRate { get; }
        /// <summary>Stub.</summary>
        public int LastEpoch { get => _last; set { _last = value; Optimizer.LearningRate = LearningRateAt(value); } }
        /// <summary>Stub.</summary>
        public abstract float LearningRateAt(int epoch);
        /// <summary>Stub.</summary>
        public void Step() => LastEpoch = _last + 1;
        /// <summary>Stub.</summary>
        protected void Start() => LastEpoch = 0;
    }

    /// <summary>Stub.</summary>
    public sealed class StepLR : LrScheduler
    {
        /// <summary>Stub.</summary>
        public StepLR(Optimizer optimizer, int stepSize, float gamma = 0.1f) : base(optimizer) { StepSize = stepSize; Gamma = gamma; Start(); }
        /// <summary>Stub.</summary>
        public int StepSize { get; }
        /// <summary>Stub.</summary>
        public float Gamma { get; }
        /// <summary>Stub.</summary>
        public override float LearningRateAt(int epoch) => (float)(BaseLearningRate * Math.Pow(Gamma, epoch / StepSize));
    }

    /// <summary>Stub.</summary>
    public sealed class CosineAnnealingLR : LrScheduler
    {
        /// <summary>Stub.</summary>
        public CosineAnnealingLR(Optimizer optimizer, int tMax, float etaMin = 0) : base(optimizer) { TMax = tMax; EtaMin = etaMin; Start(); }
        /// <summary>Stub.</summary>
        public int TMax { get; }
        /// <summary>Stub.</summary>
        public float EtaMin { get; }
        /// <summary>Stub.</summary>
        public override float LearningRateAt(int epoch) => (float)(EtaMin + (BaseLearningRate - EtaMin) * (1 + Math.Cos(Math.PI * Math.Min(epoch, TMax) / TMax)) / 2);
    }

    /// <summary>Stub.</summary>
    public sealed class WarmupLR : LrScheduler
    {
        /// <summary>Stub.</summary>
        public WarmupLR(Optimizer optimizer, int warmupSteps, float startFactor = 1f / 3) : this(optimizer, null, warmupSteps, startFactor) { }
        /// <summary>Stub.</summary>
        public WarmupLR(LrScheduler after, int warmupSteps, float startFactor = 1f / 3) : this(after.Optimizer, after, warmupSteps, startFactor) { }
        private WarmupLR(Optimizer optimizer, LrScheduler? after, int warmupSteps, float startFactor) : base(optimizer) { After = after; WarmupSteps = warmupSteps; StartFactor = startFactor; Start(); }
        /// <summary>Stub.</summary>
        public LrScheduler? After { get; }
        /// <summary>Stub.</summary>
        public int WarmupSteps { get; }
        /// <summary>Stub.</summary>
        public float StartFactor { get; }
        /// <summary>Stub.</summary>
        public override float LearningRateAt(int epoch) => epoch < WarmupSteps
            ? (float)((After?.BaseLearningRate ?? BaseLearningRate) * (StartFactor + (1.0 - StartFactor) * epoch / WarmupSteps))
            : After is null ? BaseLearningRate : After.LearningRateAt(epoch - WarmupSteps);
    }

    /// <summary>Stub: gradient clipping.</summary>
    public static class GradClip
    {
        /// <summary>Stub.</summary>
        public static float ClipGradNorm(IEnumerable<Parameter> parameters, float maxNorm)
        {
            var ps = parameters.ToArray();
            double total = Math.Sqrt(ps.Sum(p => p.Grad.Device.SumOfSquares(p.Grad)));
            if (total > maxNorm) foreach (var p in ps) p.Grad.Device.Axpby((float)(maxNorm / (total + 1e-6)), p.Grad, 0f, p.Grad);
            return (float)total;
        }
    }
}
