/* GEMM: C = alpha·op(A)·op(B) + beta·C, row-major with offsets and leading dimensions (see IDevice.Gemm).
   Tiled and register-blocked: a 16x16 work-group computes a 64x64 tile of C, each item a 4x4 block (rows ty + 16r,
   columns tx + 16c); k advances in slices of 16 staged in shared memory. Loads are laid out so that consecutive items
   read consecutive addresses for both transposed and plain operands. beta == 0 never reads C. */
#define TS 64
#define TK 16
KERNEL void gemm(int transA, int transB, int m, int n, int k, float alpha,
                 const GLOBAL float* a, int aOff, int lda, const GLOBAL float* b, int bOff, int ldb,
                 float beta, GLOBAL float* c, int cOff, int ldc)
{
    SHARED float As[TK][TS];
    SHARED float Bs[TK][TS];
    int tx = LOCAL_ID0, ty = LOCAL_ID1, tid = ty * 16 + tx;
    int row0 = GROUP_ID1 * TS, col0 = GROUP_ID0 * TS;
    float acc[4][4];
    for (int r = 0; r < 4; r++) for (int q = 0; q < 4; q++) acc[r][q] = 0.0f;
    for (int p0 = 0; p0 < k; p0 += TK) {
        for (int l = 0; l < 4; l++) {
            int e = tid + l * 256;
            int pp, ii;
            if (transA) { pp = e / TS; ii = e % TS; } else { pp = e % TK; ii = e / TK; }
            int gi = row0 + ii, gp = p0 + pp;
            float v = 0.0f;
            if (gi < m && gp < k) v = transA ? a[aOff + gp * lda + gi] : a[aOff + gi * lda + gp];
            As[pp][ii] = v;
            if (transB) { pp = e % TK; ii = e / TK; } else { pp = e / TS; ii = e % TS; }
            int gj = col0 + ii; gp = p0 + pp;
            float w = 0.0f;
            if (gj < n && gp < k) w = transB ? b[bOff + gj * ldb + gp] : b[bOff + gp * ldb + gj];
            Bs[pp][ii] = w;
        }
        BARRIER();
        for (int pp = 0; pp < TK; pp++) {
            float ar[4], br[4];
            for (int r = 0; r < 4; r++) ar[r] = As[pp][ty + 16 * r];
            for (int q = 0; q < 4; q++) br[q] = Bs[pp][tx + 16 * q];
            for (int r = 0; r < 4; r++) for (int q = 0; q < 4; q++) acc[r][q] += ar[r] * br[q];
        }
        BARRIER();
    }
    for (int r = 0; r < 4; r++) {
        int i = row0 + ty + 16 * r;
        if (i >= m) continue;
        for (int q = 0; q < 4; q++) {
            int j = col0 + tx + 16 * q;
            if (j >= n) continue;
            int idx = cOff + i * ldc + j;
            float v = alpha * acc[r][q];
            if (beta != 0.0f) v += beta * c[idx];
            c[idx] = v;
        }
    }
}
