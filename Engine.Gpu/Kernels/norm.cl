/* Batch normalisation over x viewed as [outer, channels, inner]; M = outer·inner values per channel.
   Statistics and backward use one work-group per channel with a fixed reduction tree (deterministic). */
FN int chan_index(int e, int c, int channels, int inner) { return ((e / inner) * channels + c) * inner + e % inner; }

KERNEL void bn_statistics(const GLOBAL float* x, int outer, int channels, int inner, GLOBAL float* mean, GLOBAL float* variance)
{
    SHARED acc_t s[RED];
    int t = LOCAL_ID0, c = GROUP_ID0, m = outer * inner;
    acc_t acc = 0;
    for (int e = t; e < m; e += RED) acc += x[chan_index(e, c, channels, inner)];
    s[t] = acc;
    BARRIER();
    REDUCE_SHARED(s, t)
    acc_t mu = s[0] / m;
    BARRIER();
    acc = 0;
    for (int e = t; e < m; e += RED) { acc_t d = x[chan_index(e, c, channels, inner)] - mu; acc += d * d; }
    s[t] = acc;
    BARRIER();
    REDUCE_SHARED(s, t)
    if (t == 0) { mean[c] = (float)mu; variance[c] = (float)(s[0] / m); }
}

KERNEL void bn_forward(const GLOBAL float* x, const GLOBAL float* mean, const GLOBAL float* invStd, const GLOBAL float* gamma,
                       const GLOBAL float* beta, int channels, int inner, GLOBAL float* y, int n)
{
    int i = GLOBAL_ID0;
    if (i >= n) return;
    int c = (i / inner) % channels;
    y[i] = (x[i] - mean[c]) * invStd[c] * gamma[c] + beta[c];
}

KERNEL void bn_backward(const GLOBAL float* x, const GLOBAL float* dy, const GLOBAL float* mean, const GLOBAL float* invStd,
                        const GLOBAL float* gamma, int outer, int channels, int inner, int batchStatistics,
                        GLOBAL float* dx, GLOBAL float* dGamma, GLOBAL float* dBeta)
{
    SHARED acc_t s1[RED];
    SHARED acc_t s2[RED];
    int t = LOCAL_ID0, c = GROUP_ID0, m = outer * inner;
    float mu = mean[c], is = invStd[c], g = gamma[c];
    acc_t sumDy = 0, sumDyXhat = 0;
    for (int e = t; e < m; e += RED) {
        int idx = chan_index(e, c, channels, inner);
        acc_t xhat = (x[idx] - mu) * is;
        sumDy += dy[idx];
        sumDyXhat += dy[idx] * xhat;
    }
    s1[t] = sumDy; s2[t] = sumDyXhat;
    BARRIER();
    for (int w = RED / 2; w > 0; w >>= 1) { if (t < w) { s1[t] += s1[t + w]; s2[t] += s2[t + w]; } BARRIER(); }
    sumDy = s1[0]; sumDyXhat = s2[0];
    if (t == 0) { dGamma[c] += (float)sumDyXhat; dBeta[c] += (float)sumDy; }
    for (int e = t; e < m; e += RED) {
        int idx = chan_index(e, c, channels, inner);
        if (batchStatistics) {
            acc_t xhat = (x[idx] - mu) * is;
            dx[idx] = (float)(g * is / (acc_t)m * (m * (acc_t)dy[idx] - sumDy - xhat * sumDyXhat));
        } else dx[idx] = dy[idx] * g * is;
    }
}
