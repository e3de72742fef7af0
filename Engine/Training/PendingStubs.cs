// TEMPORARY: minimal stand-ins for APIs other branches are writing (losses, optimizers, schedules), so the trainer builds
// before they land. Delete this file when main provides ConvEngine.Losses and ConvEngine.Optim (duplicate types will say so).
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
    public abstract class Optimizer(IEnumerable<Parameter> parameters, double lr)
    {
        /// <summary>Stub.</summary>
        protected readonly Parameter[] Params = parameters.ToArray();
        /// <summary>Stub.</summary>
        public double LearningRate { get; set; } = lr;
        /// <summary>Stub.</summary>
        public abstract void Step();
        /// <summary>Stub.</summary>
        public void ZeroGrad() { foreach (var p in Params) p.ZeroGrad(); }
        /// <summary>Stub.</summary>
        public virtual IReadOnlyDictionary<string, Tensor> StateDict() => new Dictionary<string, Tensor>();
    }

    /// <summary>Stub: SGD.</summary>
    public sealed class Sgd(IEnumerable<Parameter> parameters, double lr, double momentum = 0, double weightDecay = 0, bool nesterov = false, double dampening = 0) : Optimizer(parameters, lr)
    {
        private Tensor?[]? _v;
        private bool _first = true;
        /// <summary>Stub.</summary>
        public override void Step()
        {
            _v ??= Params.Select(p => momentum != 0 ? p.Value.ZerosLike() : null).ToArray();
            for (int i = 0; i < Params.Length; i++)
                Params[i].Value.Device.SgdStep(Params[i].Value, Params[i].Grad, _v[i], (float)LearningRate, (float)momentum, (float)dampening, (float)weightDecay, nesterov, _first);
            _first = false;
        }
    }

    /// <summary>Stub: Adam.</summary>
    public class Adam(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0) : Optimizer(parameters, lr)
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
                Params[i].Value.Device.AdamStep(Params[i].Value, Params[i].Grad, _m[i], _s[i], (float)LearningRate, (float)beta1, (float)beta2, (float)eps, (float)weightDecay, Decoupled, _t);
        }
    }

    /// <summary>Stub: AdamW.</summary>
    public sealed class AdamW(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 1e-2) : Adam(parameters, lr, beta1, beta2, eps, weightDecay)
    {
        /// <summary>Stub.</summary>
        protected override bool Decoupled => true;
    }

    /// <summary>Stub: scheduler base, stepped once per epoch.</summary>
    public abstract class LRScheduler(Optimizer optimizer)
    {
        /// <summary>Stub.</summary>
        protected Optimizer Optimizer { get; } = optimizer;
        /// <summary>Stub.</summary>
        public abstract void Step();
    }

    /// <summary>Stub: gradient clipping.</summary>
    public static class GradClip
    {
        /// <summary>Stub.</summary>
        public static double ClipGradNorm(IEnumerable<Parameter> parameters, double maxNorm)
        {
            var ps = parameters.ToArray();
            double total = Math.Sqrt(ps.Sum(p => p.Grad.Device.SumOfSquares(p.Grad)));
            if (total > maxNorm) foreach (var p in ps) p.Grad.Device.Axpby((float)(maxNorm / (total + 1e-6)), p.Grad, 0f, p.Grad);
            return total;
        }
    }
}
