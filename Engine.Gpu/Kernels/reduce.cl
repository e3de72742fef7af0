/* Deterministic reductions. Stage one: work-group g of RED items sums block g of the tensor (items stride through it,
   then a fixed tree in shared memory) into partial[g]; stage two adds the partials in index order on the host.
   The schedule depends only on the length, so results are identical run to run. */
KERNEL void sum_partials(const GLOBAL float* x, int n, int squares, int block, GLOBAL acc_t* partial)
{
    SHARED acc_t s[RED];
    int t = LOCAL_ID0, g = GROUP_ID0;
    int start = g * block, end = start + block < n ? start + block : n;
    acc_t acc = 0;
    for (int i = start + t; i < end; i += RED) {
        acc_t v = x[i];
        acc += squares ? v * v : v;
    }
    s[t] = acc;
    BARRIER();
    REDUCE_SHARED(s, t)
    if (t == 0) partial[g] = s[0];
}

/* result[c] (+)= Σ over outer, inner of a·b (b optional); one work-group per channel. */
KERNEL void channel_dot(const GLOBAL float* a, const GLOBAL float* b, int hasB, int outer, int channels, int inner,
                        GLOBAL float* result, int accumulate)
{
    SHARED acc_t s[RED];
    int t = LOCAL_ID0, c = GROUP_ID0;
    int m = outer * inner;
    acc_t acc = 0;
    for (int e = t; e < m; e += RED) {
        int idx = ((e / inner) * channels + c) * inner + e % inner;
        acc += hasB ? (acc_t)a[idx] * b[idx] : (acc_t)a[idx];
    }
    s[t] = acc;
    BARRIER();
    REDUCE_SHARED(s, t)
    if (t == 0) result[c] = accumulate ? result[c] + (float)s[0] : (float)s[0];
}
