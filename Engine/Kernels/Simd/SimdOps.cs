// Element-wise operators as readonly structs (the System.Numerics.Tensors TensorPrimitives design).
// Each op states its math once per width: scalar, Vector512<float>, Vector256<float> and the portable Vector<float>.
// The one shared driver (SimdDriver) owns width dispatch, unrolling and tails, so an op is only its formula.
// Ops with a parameter (LeakyReLU slope, ELU alpha, scale, epsilon) carry it in a field.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ConvEngine.Kernels.Simd;

/// <summary>y = f(x), element by element.</summary>
internal interface IUnaryOp
{
    float Invoke(float x);
    Vector512<float> Invoke(Vector512<float> x);
    Vector256<float> Invoke(Vector256<float> x);
    Vector<float> Invoke(Vector<float> x);
}

/// <summary>z = f(x, y), element by element.</summary>
internal interface IBinaryOp
{
    float Invoke(float x, float y);
    Vector512<float> Invoke(Vector512<float> x, Vector512<float> y);
    Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
    Vector<float> Invoke(Vector<float> x, Vector<float> y);
}

/// <summary>w = f(x, y, z), element by element; backward ops take (x, y = f(x), dY) and return dX.</summary>
internal interface ITernaryOp
{
    float Invoke(float x, float y, float z);
    Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> z);
    Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> z);
    Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> z);
}

/// <summary>A transform applied to each (widened) element before it is summed in double.</summary>
internal interface IReduceOp
{
    double Invoke(double x);
    Vector512<double> Invoke(Vector512<double> x);
    Vector256<double> Invoke(Vector256<double> x);
    Vector<double> Invoke(Vector<double> x);
}

// ---------------------------------------------------------------- forward unary ops

/// <summary>y = x.</summary>
internal readonly struct IdentityOp : IUnaryOp
{
    public float Invoke(float x) => x;
    public Vector512<float> Invoke(Vector512<float> x) => x;
    public Vector256<float> Invoke(Vector256<float> x) => x;
    public Vector<float> Invoke(Vector<float> x) => x;
}

/// <summary>y = x &gt; 0 ? x : 0 (NaN maps to 0, as the naive twin).</summary>
internal readonly struct ReluOp : IUnaryOp
{
    public float Invoke(float x) => x > 0 ? x : 0;
    public Vector512<float> Invoke(Vector512<float> x) => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), x, Vector512<float>.Zero);
    public Vector256<float> Invoke(Vector256<float> x) => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, Vector256<float>.Zero);
    public Vector<float> Invoke(Vector<float> x) => Vector.ConditionalSelect(Vector.GreaterThan(x, Vector<float>.Zero), x, Vector<float>.Zero);
}

/// <summary>y = x &gt; 0 ? x : slope·x.</summary>
internal readonly struct LeakyReluOp(float slope) : IUnaryOp
{
    private readonly float _slope = slope;
    public float Invoke(float x) => x > 0 ? x : _slope * x;
    public Vector512<float> Invoke(Vector512<float> x) => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), x, x * _slope);
    public Vector256<float> Invoke(Vector256<float> x) => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, x * _slope);
    public Vector<float> Invoke(Vector<float> x) => Vector.ConditionalSelect(Vector.GreaterThan(x, Vector<float>.Zero), x, x * _slope);
}

/// <summary>y = x &gt; 0 ? x : alpha·(eˣ − 1).</summary>
internal readonly struct EluOp(float alpha) : IUnaryOp
{
    private readonly float _alpha = alpha;
    public float Invoke(float x) => x > 0 ? x : _alpha * (MathF.Exp(x) - 1);
    public Vector512<float> Invoke(Vector512<float> x) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), x, (Vector512.Exp(Vector512.Min(x, Vector512<float>.Zero)) - Vector512<float>.One) * _alpha);
    public Vector256<float> Invoke(Vector256<float> x) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), x, (Vector256.Exp(Vector256.Min(x, Vector256<float>.Zero)) - Vector256<float>.One) * _alpha);
    public Vector<float> Invoke(Vector<float> x) =>
        Vector.ConditionalSelect(Vector.GreaterThan(x, Vector<float>.Zero), x, (Vector.Exp(Vector.Min(x, Vector<float>.Zero)) - Vector<float>.One) * _alpha);
}

/// <summary>y = 1 / (1 + e⁻ˣ).</summary>
internal readonly struct SigmoidOp : IUnaryOp
{
    public float Invoke(float x) => 1f / (1f + MathF.Exp(-x));
    public Vector512<float> Invoke(Vector512<float> x) => Vector512<float>.One / (Vector512<float>.One + Vector512.Exp(-x));
    public Vector256<float> Invoke(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));
    public Vector<float> Invoke(Vector<float> x) => Vector<float>.One / (Vector<float>.One + Vector.Exp(-x));
}

/// <summary>y = tanh(x), computed as sign(x)·(1 − e)/(1 + e) with e = e^(−2|x|) so nothing overflows.</summary>
internal readonly struct TanhOp : IUnaryOp
{
    public float Invoke(float x) => MathF.Tanh(x);
    public Vector512<float> Invoke(Vector512<float> x)
    {
        var e = Vector512.Exp(Vector512.Abs(x) * -2f);
        return Vector512.CopySign((Vector512<float>.One - e) / (Vector512<float>.One + e), x);
    }
    public Vector256<float> Invoke(Vector256<float> x)
    {
        var e = Vector256.Exp(Vector256.Abs(x) * -2f);
        return Vector256.CopySign((Vector256<float>.One - e) / (Vector256<float>.One + e), x);
    }
    public Vector<float> Invoke(Vector<float> x)
    {
        var e = Vector.Exp(Vector.Abs(x) * -2f);
        return Vector.CopySign((Vector<float>.One - e) / (Vector<float>.One + e), x);
    }
}

/// <summary>y = s·x.</summary>
internal readonly struct ScaleOp(float s) : IUnaryOp
{
    private readonly float _s = s;
    public float Invoke(float x) => _s * x;
    public Vector512<float> Invoke(Vector512<float> x) => x * _s;
    public Vector256<float> Invoke(Vector256<float> x) => x * _s;
    public Vector<float> Invoke(Vector<float> x) => x * _s;
}

/// <summary>y = x + s (a broadcast bias).</summary>
internal readonly struct AddScalarOp(float s) : IUnaryOp
{
    private readonly float _s = s;
    public float Invoke(float x) => x + _s;
    public Vector512<float> Invoke(Vector512<float> x) => x + Vector512.Create(_s);
    public Vector256<float> Invoke(Vector256<float> x) => x + Vector256.Create(_s);
    public Vector<float> Invoke(Vector<float> x) => x + new Vector<float>(_s);
}

/// <summary>y = x².</summary>
internal readonly struct SquareOp : IUnaryOp
{
    public float Invoke(float x) => x * x;
    public Vector512<float> Invoke(Vector512<float> x) => x * x;
    public Vector256<float> Invoke(Vector256<float> x) => x * x;
    public Vector<float> Invoke(Vector<float> x) => x * x;
}

/// <summary>y = 1 / sqrt(x + eps) (an exact division, not the hardware estimate).</summary>
internal readonly struct RsqrtPlusOp(float eps) : IUnaryOp
{
    private readonly float _eps = eps;
    public float Invoke(float x) => 1f / MathF.Sqrt(x + _eps);
    public Vector512<float> Invoke(Vector512<float> x) => Vector512<float>.One / Vector512.Sqrt(x + Vector512.Create(_eps));
    public Vector256<float> Invoke(Vector256<float> x) => Vector256<float>.One / Vector256.Sqrt(x + Vector256.Create(_eps));
    public Vector<float> Invoke(Vector<float> x) => Vector<float>.One / Vector.SquareRoot(x + new Vector<float>(_eps));
}

// ---------------------------------------------------------------- backward ops: dX = f'(x, y)·dY

/// <summary>dX = dY.</summary>
internal readonly struct IdentityBackwardOp : ITernaryOp
{
    public float Invoke(float x, float y, float dy) => dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) => dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) => dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) => dy;
}

/// <summary>dX = (x &gt; 0 ? 1 : 0)·dY (the product is kept so NaN in dY propagates as in the naive twin).</summary>
internal readonly struct ReluBackwardOp : ITernaryOp
{
    public float Invoke(float x, float y, float dy) => (x > 0 ? 1f : 0f) * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), Vector512<float>.One, Vector512<float>.Zero) * dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), Vector256<float>.One, Vector256<float>.Zero) * dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) =>
        Vector.ConditionalSelect(Vector.GreaterThan(x, Vector<float>.Zero), Vector<float>.One, Vector<float>.Zero) * dy;
}

/// <summary>dX = (x &gt; 0 ? 1 : slope)·dY.</summary>
internal readonly struct LeakyReluBackwardOp(float slope) : ITernaryOp
{
    private readonly float _slope = slope;
    public float Invoke(float x, float y, float dy) => (x > 0 ? 1f : _slope) * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), Vector512<float>.One, Vector512.Create(_slope)) * dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), Vector256<float>.One, Vector256.Create(_slope)) * dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) =>
        Vector.ConditionalSelect(Vector.GreaterThan(x, Vector<float>.Zero), Vector<float>.One, new Vector<float>(_slope)) * dy;
}

/// <summary>dX = (x &gt; 0 ? 1 : y + alpha)·dY.</summary>
internal readonly struct EluBackwardOp(float alpha) : ITernaryOp
{
    private readonly float _alpha = alpha;
    public float Invoke(float x, float y, float dy) => (x > 0 ? 1f : y + _alpha) * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), Vector512<float>.One, y + Vector512.Create(_alpha)) * dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), Vector256<float>.One, y + Vector256.Create(_alpha)) * dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) =>
        Vector.ConditionalSelect(Vector.GreaterThan(x, Vector<float>.Zero), Vector<float>.One, y + new Vector<float>(_alpha)) * dy;
}

/// <summary>dX = y·(1 − y)·dY.</summary>
internal readonly struct SigmoidBackwardOp : ITernaryOp
{
    public float Invoke(float x, float y, float dy) => y * (1 - y) * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) => y * (Vector512<float>.One - y) * dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) => y * (Vector256<float>.One - y) * dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) => y * (Vector<float>.One - y) * dy;
}

/// <summary>dX = (1 − y²)·dY.</summary>
internal readonly struct TanhBackwardOp : ITernaryOp
{
    public float Invoke(float x, float y, float dy) => (1 - y * y) * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) => (Vector512<float>.One - y * y) * dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) => (Vector256<float>.One - y * y) * dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) => (Vector<float>.One - y * y) * dy;
}

/// <summary>dX = s·dY.</summary>
internal readonly struct ScaleBackwardOp(float s) : ITernaryOp
{
    private readonly float _s = s;
    public float Invoke(float x, float y, float dy) => _s * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) => dy * _s;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) => dy * _s;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) => dy * _s;
}

/// <summary>dX = 2x·dY.</summary>
internal readonly struct SquareBackwardOp : ITernaryOp
{
    public float Invoke(float x, float y, float dy) => 2 * x * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) => x * 2f * dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) => x * 2f * dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) => x * 2f * dy;
}

/// <summary>dX = −½·y³·dY.</summary>
internal readonly struct RsqrtPlusBackwardOp : ITernaryOp
{
    public float Invoke(float x, float y, float dy) => -0.5f * y * y * y * dy;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> dy) => y * -0.5f * y * y * dy;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> dy) => y * -0.5f * y * y * dy;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> dy) => y * -0.5f * y * y * dy;
}

// ---------------------------------------------------------------- binary ops

/// <summary>z = x + y.</summary>
internal readonly struct AddOp : IBinaryOp
{
    public float Invoke(float x, float y) => x + y;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x + y;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x + y;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y) => x + y;
}

/// <summary>z = x·y.</summary>
internal readonly struct MultiplyOp : IBinaryOp
{
    public float Invoke(float x, float y) => x * y;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x * y;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x * y;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y) => x * y;
}

/// <summary>z = alpha·x + beta·y (use <see cref="ScaleOp"/> when beta is 0 so y is not read).</summary>
internal readonly struct AxpbyOp(float alpha, float beta) : IBinaryOp
{
    private readonly float _alpha = alpha, _beta = beta;
    public float Invoke(float x, float y) => _alpha * x + _beta * y;
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x * _alpha + y * _beta;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x * _alpha + y * _beta;
    public Vector<float> Invoke(Vector<float> x, Vector<float> y) => x * _alpha + y * _beta;
}

// ---------------------------------------------------------------- reduction transforms (in double)

/// <summary>Sums the values themselves.</summary>
internal readonly struct SumReduce : IReduceOp
{
    public double Invoke(double x) => x;
    public Vector512<double> Invoke(Vector512<double> x) => x;
    public Vector256<double> Invoke(Vector256<double> x) => x;
    public Vector<double> Invoke(Vector<double> x) => x;
}

/// <summary>Sums the squares (squared in double, as the naive twin).</summary>
internal readonly struct SquareReduce : IReduceOp
{
    public double Invoke(double x) => x * x;
    public Vector512<double> Invoke(Vector512<double> x) => x * x;
    public Vector256<double> Invoke(Vector256<double> x) => x * x;
    public Vector<double> Invoke(Vector<double> x) => x * x;
}
