/* Convolution helpers: im2col, col2im (gather: one item per input element, so no atomics and a fixed summation order),
   explicit padding (zeros / reflect / replicate) and its adjoint (gather as well). */
/* Batched: `images` consecutive images starting at element xOff of x, side by side in col [C*KH*KW, images*OH*OW]. */
KERNEL void im2col(const GLOBAL float* x, int xOff, GLOBAL float* col, int C, int H, int W, int KH, int KW,
                   int SH, int SW, int PH, int PW, int DH, int DW, int OH, int OW, int images)
{
    int idx = GLOBAL_ID0;
    int cols = OH * OW, ld = images * cols;
    if (idx >= C * KH * KW * ld) return;
    int row = idx / ld, rem = idx % ld;
    int b = rem / cols, cc = rem % cols;
    int kw = row % KW, kh = (row / KW) % KH, c = row / (KW * KH);
    int oh = cc / OW, ow = cc % OW;
    int ih = oh * SH - PH + kh * DH, iw = ow * SW - PW + kw * DW;
    col[idx] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[xOff + ((b * C + c) * H + ih) * W + iw] : 0.0f;
}

KERNEL void col2im(const GLOBAL float* col, GLOBAL float* dx, int xOff, int C, int H, int W, int KH, int KW,
                   int SH, int SW, int PH, int PW, int DH, int DW, int OH, int OW, int images)
{
    int idx = GLOBAL_ID0;
    if (idx >= images * C * H * W) return;
    int iw = idx % W, ih = (idx / W) % H, c = (idx / (W * H)) % C, b = idx / (W * H * C);
    int cols = OH * OW, ld = images * cols;
    float sum = dx[xOff + idx];
    for (int kh = 0; kh < KH; kh++) {
        int th = ih + PH - kh * DH;
        if (th < 0 || th % SH != 0) continue;
        int oh = th / SH;
        if (oh >= OH) continue;
        for (int kw = 0; kw < KW; kw++) {
            int tw = iw + PW - kw * DW;
            if (tw < 0 || tw % SW != 0) continue;
            int ow = tw / SW;
            if (ow >= OW) continue;
            sum += col[((c * KH + kh) * KW + kw) * ld + b * cols + oh * OW + ow];
        }
    }
    dx[xOff + idx] = sum;
}

/* y[yOff + (j*rows + i)*inner + t] = x[xOff + (i*cols + j)*inner + t]: one item per element of y. */
KERNEL void swap_axes(const GLOBAL float* x, int xOff, GLOBAL float* y, int yOff, int rows, int cols, int inner)
{
    int idx = GLOBAL_ID0;
    if (idx >= rows * cols * inner) return;
    int t = idx % inner, i = (idx / inner) % rows, j = idx / (inner * rows);
    y[yOff + idx] = x[xOff + (i * cols + j) * inner + t];
}

/* The input index that padded position p copies (mode 0 zeros, 1 reflect, 2 replicate); -1 for a zero cell. */
FN int source_index(int p, int size, int mode)
{
    if (p >= 0 && p < size) return p;
    if (mode == 0) return -1;
    if (mode == 2) return p < 0 ? 0 : size - 1;
    if (size == 1) return 0;
    int period = 2 * (size - 1);
    int q = ((p % period) + period) % period;
    return q < size ? q : period - q;
}

KERNEL void pad2d(const GLOBAL float* x, GLOBAL float* y, int planes, int H, int W, int mode, int top, int left, int OH, int OW)
{
    int idx = GLOBAL_ID0;
    if (idx >= planes * OH * OW) return;
    int j = idx % OW, i = (idx / OW) % OH, p = idx / (OW * OH);
    int si = source_index(i - top, H, mode), sj = source_index(j - left, W, mode);
    y[idx] = (si < 0 || sj < 0) ? 0.0f : x[(p * H + si) * W + sj];
}

/* dX[p, si, sj] = Σ dY over the padded cells that copy (si, sj); candidates are the interior cell and the border rows/columns,
   visited in increasing order as the naive scatter does. */
KERNEL void pad2d_backward(const GLOBAL float* dy, GLOBAL float* dx, int planes, int H, int W, int mode, int top, int left, int OH, int OW)
{
    int idx = GLOBAL_ID0;
    if (idx >= planes * H * W) return;
    int sj = idx % W, si = (idx / W) % H, p = idx / (W * H);
    int bottom = OH - H - top, right = OW - W - left;
    float sum = 0.0f;
    for (int a = 0; a < top + 1 + bottom; a++) {
        int i = a < top ? a : (a == top ? si + top : H + a - 1);   /* border above, the interior row, border below */
        if (source_index(i - top, H, mode) != si) continue;
        for (int b = 0; b < left + 1 + right; b++) {
            int j = b < left ? b : (b == left ? sj + left : W + b - 1);
            if (source_index(j - left, W, mode) != sj) continue;
            sum += dy[(p * OH + i) * OW + j];
        }
    }
    dx[idx] = sum;
}
