/* Softmax cross-entropy (one item per row, double accumulation when available), dropout masks from the counter-based
   hash of ConvEngine.Rng (64-bit integer math, so masks equal the CPU's bit for bit), and the SGD and Adam updates. */
KERNEL void softmax_xent(const GLOBAL float* logits, const GLOBAL int* labels, int n, int k, GLOBAL float* dlogits, GLOBAL acc_t* rowLoss)
{
    int r = GLOBAL_ID0;
    if (r >= n) return;
    int base = r * k, label = labels[r];
    acc_t mx = logits[base];
    for (int j = 1; j < k; j++) { acc_t v = logits[base + j]; if (v > mx) mx = v; }
    acc_t sum = 0;
    for (int j = 0; j < k; j++) sum += EXPD(logits[base + j] - mx);
    acc_t logSum = LOGD(sum) + mx;
    rowLoss[r] = logSum - logits[base + label];
    for (int j = 0; j < k; j++) {
        acc_t p = EXPD(logits[base + j] - logSum);
        dlogits[base + j] = (float)((p - (j == label ? 1 : 0)) / n);
    }
}

FN u64 rng_hash(u64 seed, u64 stream, u64 index)
{
    u64 z = seed + U64C(0x9E3779B97F4A7C15) * (stream + 1) + index * U64C(0xD1B54A32D192ED03);
    z = (z ^ (z >> 30)) * U64C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * U64C(0x94D049BB133111EB);
    z ^= z >> 31;
    z += U64C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * U64C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * U64C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

KERNEL void dropout_mask(u64 seed, u64 stream, float p, float keepValue, GLOBAL float* mask, int n)
{
    int i = GLOBAL_ID0;
    if (i >= n) return;
    float u = (float)(rng_hash(seed, stream, (u64)i) >> 40) * (1.0f / 16777216.0f);
    mask[i] = u >= p ? keepValue : 0.0f;
}

KERNEL void sgd_step(GLOBAL float* w, const GLOBAL float* g, GLOBAL float* velocity, int hasVelocity, float lr, float momentum,
                     float dampening, float weightDecay, int nesterov, int firstStep, int n)
{
    int i = GLOBAL_ID0;
    if (i >= n) return;
    float d = g[i];
    if (weightDecay != 0.0f) d += weightDecay * w[i];
    if (momentum != 0.0f && hasVelocity) {
        float buf = firstStep ? d : momentum * velocity[i] + (1.0f - dampening) * d;
        velocity[i] = buf;
        d = nesterov ? d + momentum * buf : buf;
    }
    w[i] -= lr * d;
}

KERNEL void adam_step(GLOBAL float* w, const GLOBAL float* g, GLOBAL float* m, GLOBAL float* v, float lr, float beta1, float beta2,
                      float eps, float weightDecay, int decoupled, float stepSize, float bc2Sqrt, int n)
{
    int i = GLOBAL_ID0;
    if (i >= n) return;
    float grad = g[i];
    float wi = w[i];
    if (decoupled) wi *= 1.0f - lr * weightDecay;
    else if (weightDecay != 0.0f) grad += weightDecay * wi;
    float mi = beta1 * m[i] + (1.0f - beta1) * grad;
    float vi = beta2 * v[i] + (1.0f - beta2) * grad * grad;
    m[i] = mi; v[i] = vi;
    float denom = SQRTF(vi) / bc2Sqrt + eps;
    w[i] = wi - stepSize * mi / denom;
}
