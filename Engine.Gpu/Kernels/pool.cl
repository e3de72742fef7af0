/* Pooling over planes [planes, H, W]. The geometry travels as ints: H, W, OH, OW, KH, KW, SH, SW, PH, PW, countIncludePad, adaptive.
   Windows follow PoolGeometry.RowWindow/ColWindow exactly; backward passes gather (one item per input element). */
#define GEO_PARAMS int H, int W, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW, int incPad, int adaptive

/* Window [*start, *end) along one axis for output o, and the padded count (divisor part). */
FN int window(int o, int size, int outSize, int k, int s, int p, int adaptive, int* start, int* end)
{
    if (adaptive) {
        int st = (int)(((i64)o * size) / outSize);
        int en = (int)((((i64)(o + 1)) * size + outSize - 1) / outSize);
        *start = st; *end = en;
        return en - st;
    }
    int st = o * s - p;
    int en = st + k < size + p ? st + k : size + p;
    *start = st > 0 ? st : 0;
    *end = en < size ? en : size;
    return en - st;
}

/* Range of outputs [*lo, *hi) whose windows may contain input position i. */
FN void out_range(int i, int size, int outSize, int k, int s, int p, int adaptive, int* lo, int* hi)
{
    if (adaptive) { *lo = 0; *hi = outSize; return; }
    int t = i + p - k + 1;
    int l = t <= 0 ? 0 : (t + s - 1) / s;
    int h = (i + p) / s + 1;
    *lo = l; *hi = h < outSize ? h : outSize;
}

/* Flat index in x of the first maximum of output cell (oh, ow) of plane p (NaN wins), or -1 for an empty window. */
FN int argmax(const GLOBAL float* x, int p, int oh, int ow, GEO_PARAMS)
{
    int r0, r1, c0, c1;
    window(oh, H, OH, KH, SH, PH, adaptive, &r0, &r1);
    window(ow, W, OW, KW, SW, PW, adaptive, &c0, &c1);
    int best = -1; float bestVal = 0.0f;
    for (int i = r0; i < r1; i++)
        for (int j = c0; j < c1; j++) {
            int idx = (p * H + i) * W + j;
            float v = x[idx];
            if (v != v) return idx;
            if (best < 0 || v > bestVal) { best = idx; bestVal = v; }
        }
    return best;
}

KERNEL void maxpool2d(const GLOBAL float* x, GLOBAL float* y, int planes, GEO_PARAMS)
{
    int idx = GLOBAL_ID0;
    if (idx >= planes * OH * OW) return;
    int ow = idx % OW, oh = (idx / OW) % OH, p = idx / (OW * OH);
    int a = argmax(x, p, oh, ow, H, W, OH, OW, KH, KW, SH, SW, PH, PW, incPad, adaptive);
    y[idx] = a < 0 ? NEG_INF : x[a];
}

KERNEL void maxpool2d_backward(const GLOBAL float* x, const GLOBAL float* dy, GLOBAL float* dx, int planes, GEO_PARAMS)
{
    int idx = GLOBAL_ID0;
    if (idx >= planes * H * W) return;
    int j = idx % W, i = (idx / W) % H, p = idx / (W * H);
    int oh0, oh1, ow0, ow1;
    out_range(i, H, OH, KH, SH, PH, adaptive, &oh0, &oh1);
    out_range(j, W, OW, KW, SW, PW, adaptive, &ow0, &ow1);
    float sum = 0.0f;
    for (int oh = oh0; oh < oh1; oh++)
        for (int ow = ow0; ow < ow1; ow++)
            if (argmax(x, p, oh, ow, H, W, OH, OW, KH, KW, SH, SW, PH, PW, incPad, adaptive) == idx)
                sum += dy[(p * OH + oh) * OW + ow];
    dx[idx] = sum;
}

FN int divisor(int oh, int ow, GEO_PARAMS)
{
    int r0, r1, c0, c1;
    int rp = window(oh, H, OH, KH, SH, PH, adaptive, &r0, &r1);
    int cp = window(ow, W, OW, KW, SW, PW, adaptive, &c0, &c1);
    return incPad ? rp * cp : (r1 - r0) * (c1 - c0);
}

KERNEL void avgpool2d(const GLOBAL float* x, GLOBAL float* y, int planes, GEO_PARAMS)
{
    int idx = GLOBAL_ID0;
    if (idx >= planes * OH * OW) return;
    int ow = idx % OW, oh = (idx / OW) % OH, p = idx / (OW * OH);
    int r0, r1, c0, c1;
    window(oh, H, OH, KH, SH, PH, adaptive, &r0, &r1);
    window(ow, W, OW, KW, SW, PW, adaptive, &c0, &c1);
    acc_t acc = 0;
    for (int i = r0; i < r1; i++)
        for (int j = c0; j < c1; j++) acc += x[(p * H + i) * W + j];
    y[idx] = (float)(acc / divisor(oh, ow, H, W, OH, OW, KH, KW, SH, SW, PH, PW, incPad, adaptive));
}

KERNEL void avgpool2d_backward(const GLOBAL float* dy, GLOBAL float* dx, int planes, GEO_PARAMS)
{
    int idx = GLOBAL_ID0;
    if (idx >= planes * H * W) return;
    int j = idx % W, i = (idx / W) % H, p = idx / (W * H);
    int oh0, oh1, ow0, ow1;
    out_range(i, H, OH, KH, SH, PH, adaptive, &oh0, &oh1);
    out_range(j, W, OW, KW, SW, PW, adaptive, &ow0, &ow1);
    float sum = 0.0f;
    for (int oh = oh0; oh < oh1; oh++) {
        int r0, r1;
        window(oh, H, OH, KH, SH, PH, adaptive, &r0, &r1);
        if (i < r0 || i >= r1) continue;
        for (int ow = ow0; ow < ow1; ow++) {
            int c0, c1;
            window(ow, W, OW, KW, SW, PW, adaptive, &c0, &c1);
            if (j < c0 || j >= c1) continue;
            sum += dy[(p * OH + oh) * OW + ow] / (float)divisor(oh, ow, H, W, OH, OW, KH, KW, SH, SW, PH, PW, incPad, adaptive);
        }
    }
    dx[idx] = sum;
}
