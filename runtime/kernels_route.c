/* kernels_route.c - token routing: Mixture-of-Experts, Mixture-of-Depths and
 * the sparse FFN's unit selection.
 *
 * Routing decisions are made serially where their order matters (capacity is
 * granted rank by rank, then token by token); the per-row work around them is
 * parallel.  Counts derived from capacities are exact integer ceilings. */
#include <math.h>
#include <string.h>

#include "xfrt.h"

#include "xfrt_lanes.h"

/* ---- exact ceilings --------------------------------------------------------- */

typedef struct {
    uint64_t hi, lo;
} XfrtU128;

static inline XfrtU128 xfrt_mul64(uint64_t a, uint64_t b)
{
    uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, b0 = b & 0xFFFFFFFFu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFu) + (p10 & 0xFFFFFFFFu);
    XfrtU128 r = {p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32), (mid << 32) | (p00 & 0xFFFFFFFFu)};
    return r;
}

/* x * m, saturating at 2^128 - 1. */
static inline XfrtU128 xfrt_mul_sat(XfrtU128 x, uint64_t m)
{
    XfrtU128 lo = xfrt_mul64(x.lo, m), hi = xfrt_mul64(x.hi, m);
    XfrtU128 sat = {UINT64_MAX, UINT64_MAX};
    if (hi.hi != 0 || lo.hi > UINT64_MAX - hi.lo)
        return sat;
    XfrtU128 r = {lo.hi + hi.lo, lo.lo};
    return r;
}

static inline int xfrt_u128_ge(XfrtU128 a, XfrtU128 b)
{
    return a.hi != b.hi ? a.hi > b.hi : a.lo >= b.lo;
}

/* min(ceil(a*b / (c*d)), limit), exactly, for non-negative operands; limit
 * when c*d == 0.  The smallest q with q*c*d >= a*b, by bisection. */
static inline int64_t xfrt_ceil_div(uint64_t a, uint64_t b, uint64_t c, uint64_t d, int64_t limit)
{
    if (limit <= 0)
        return 0;
    XfrtU128 num = xfrt_mul64(a, b), den = xfrt_mul64(c, d);
    if (den.hi == 0 && den.lo == 0)
        return limit;
    int64_t lo = 0, hi = limit;     /* answer in [lo, hi] */
    if (!xfrt_u128_ge(xfrt_mul_sat(den, (uint64_t)limit), num))
        return limit;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (xfrt_u128_ge(xfrt_mul_sat(den, (uint64_t)mid), num))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- Mixture-of-Experts ----------------------------------------------------- */

XFRT_API void xfrt_route_bind(XfrtRoute *r, void *mem, int n_max, int experts, int top_k)
{
    size_t nk = (size_t)n_max * (size_t)top_k;
    char *p = mem;
    r->offset = (int32_t *)(void *)p;
    p += 4 * ((size_t)experts + 1);
    r->tok = (int32_t *)(void *)p;
    p += 4 * nk;
    r->gate = (float *)(void *)p;
    p += 4 * nk;
    r->slot = (int32_t *)(void *)p;
    p += 4 * nk;
    r->prob = (float *)(void *)p;
    r->n = 0;
    r->experts = experts;
    r->top_k = top_k;
}

/* Softmax of one token's logits into p, its top_k experts (ties: lower index)
 * into sel, and their gates into p[sel[i]]. */
static inline void xfrt_moe_pick(float *p, int32_t *sel, const float *logit, int E, int k,
                                 int renorm)
{
    float mx = logit[0];
    for (int e = 1; e < E; e++)
        if (logit[e] > mx)
            mx = logit[e];
    if (mx == -INFINITY)
        mx = 0.0f;
    double sum = 0;
    for (int e = 0; e < E; e++) {
        p[e] = expf(logit[e] - mx);
        sum += p[e];
    }
    for (int e = 0; e < E; e++)
        p[e] = (float)(p[e] / sum);
    float picked = 0.0f;
    for (int i = 0; i < k; i++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int j = 0; j < i; j++)
                taken |= sel[j] == e;
            if (!taken && (best < 0 || p[e] > p[best]))
                best = e;
        }
        sel[i] = best;      /* -1 only when top_k > experts */
        if (best >= 0)
            picked += p[best];
    }
    if (renorm && picked > 0.0f)
        for (int i = 0; i < k; i++)
            if (sel[i] >= 0)
                p[sel[i]] /= picked;
}

static inline void xfrt_moe_place(XfrtRoute *r, int n, int64_t cap_num, int64_t cap_den);

XFRT_API int xfrt_moe_route(XfrtRoute *r, const float *logits, int n, int renorm, int64_t cap_num,
                            int64_t cap_den)
{
    int E = r->experts, k = r->top_k;
    r->n = n < 0 ? 0 : n;
    n = r->n;
    /* softmax (an expf each) and top_k passes over the experts */
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * E * (16 + k), &xfrt_lo, &xfrt_hi);
    for (int t = (int)xfrt_lo; t < (int)xfrt_hi; t++)
        xfrt_moe_pick(r->prob + (size_t)t * E, r->slot + (size_t)t * k, logits + (size_t)t * E, E,
                      k, renorm);

    XFRT_BARRIER();     /* every pick is made; the rest is serial, on one thread */
    if (xfrt_lead())
        xfrt_moe_place(r, n, cap_num, cap_den);
    XFRT_BARRIER();     /* every thread reads the table */
    return r->offset[E];
}

/* Capacity, granted by rank then token, and the table sorted by expert. */
static inline void xfrt_moe_place(XfrtRoute *r, int n, int64_t cap_num, int64_t cap_den)
{
    int E = r->experts, k = r->top_k;
    /* capacity, granted by rank then token; slot[] holds experts, -1 dropped */
    int64_t cap = n;
    if (cap_num > 0 && cap_den > 0)
        cap = xfrt_ceil_div((uint64_t)cap_num, (uint64_t)n * (uint64_t)k, (uint64_t)cap_den,
                            (uint64_t)E, n);
    int32_t *count = r->offset + 1;
    memset(r->offset, 0, ((size_t)E + 1) * sizeof *r->offset);
    for (int i = 0; i < k; i++)
        for (int t = 0; t < n; t++) {
            int32_t *s = &r->slot[(size_t)t * k + i];
            if (*s < 0)
                continue;
            if (count[*s] >= cap)
                *s = -1;
            else
                count[*s]++;
        }
    for (int e = 0; e < E; e++)
        r->offset[e + 1] += r->offset[e];
    /* place kept assignments by expert, tokens ascending within an expert;
     * offset[e] serves as expert e's cursor, then is shifted back */
    for (int t = 0; t < n; t++)
        for (int i = 0; i < k; i++) {
            int32_t *s = &r->slot[(size_t)t * k + i];
            if (*s < 0)
                continue;
            int32_t e = *s, a = r->offset[e]++;
            r->tok[a] = t;
            r->gate[a] = r->prob[(size_t)t * E + e];
            *s = a;
        }
    for (int e = E; e > 0; e--)
        r->offset[e] = r->offset[e - 1];
    r->offset[0] = 0;
}

XFRT_API void xfrt_moe_gather(float *xs, const float *x, const XfrtRoute *r, int dim)
{
    int total = r->offset[r->experts];
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(total), (double)total * dim, &xfrt_lo, &xfrt_hi);
    for (int a = (int)xfrt_lo; a < (int)xfrt_hi; a++)
        memcpy(xs + (size_t)a * dim, x + (size_t)r->tok[a] * dim, (size_t)dim * sizeof *xs);
}

XFRT_API void xfrt_grouped_linear(float *y, const float *xs, const XfrtMat *W, const XfrtRoute *r,
                                  int in, int out)
{
    for (int e = 0; e < r->experts; e++) {
        int a0 = r->offset[e], rows = r->offset[e + 1] - a0;
        if (rows > 0) {
            XfrtMat we = xfrt_mat_expert(W, e);     /* expert e's own panels */
            xfrt_linear(y + (size_t)a0 * out, xs + (size_t)a0 * in, &we, rows, in, out);
        }
    }
}

XFRT_API void xfrt_grouped_linear_fused(const float *x, const XfrtRoute *r, int gathered, int in,
                                        const XfrtLinearOut *out, int n_out)
{
    for (int e = 0; e < r->experts; e++) {
        int a0 = r->offset[e], rows = r->offset[e + 1] - a0;
        if (rows <= 0)
            continue;
        XfrtLinearOut o[XFRT_FUSED_MAX_OUT];
        XfrtMat we[XFRT_FUSED_MAX_OUT], we2[XFRT_FUSED_MAX_OUT];
        for (int s = 0; s < n_out && s < XFRT_FUSED_MAX_OUT; s++) {
            size_t y = (size_t)a0 * out[s].cols;
            o[s] = out[s];
            we[s] = xfrt_mat_expert(out[s].W, e);
            o[s].W = &we[s];
            if (o[s].W2) {
                we2[s] = xfrt_mat_expert(out[s].W2, e);
                o[s].W2 = &we2[s];
            }
            if (o[s].rows)          /* a scatter: y is token rows */
                o[s].rows += a0;
            else
                o[s].y += y;
            if (o[s].gate)
                o[s].gate += a0;
            if (o[s].res)
                o[s].res += y;
            if (o[s].rope_pos)
                o[s].rope_pos += a0;
        }
        xfrt_linear_fused_rows(gathered ? x : x + (size_t)a0 * in, gathered ? r->tok + a0 : NULL, rows,
                               in, NULL, o, n_out < XFRT_FUSED_MAX_OUT ? n_out : XFRT_FUSED_MAX_OUT);
    }
}

XFRT_API void xfrt_grouped_linear_scatter(const float *x, const XfrtRoute *r, int gathered, int in,
                                          const XfrtLinearOut *out)
{
    XfrtLinearOut o = *out;
    o.rows = r->tok;
    o.gate = r->gate;
    xfrt_grouped_linear_fused(x, r, gathered, in, &o, 1);
    /* tokens without a kept assignment (dropped): base + 0, as the unfused
     * combine's 0 plus the residual; rows the product does not write */
    int n = r->n, k = r->top_k, dim = o.cols;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * dim, &xfrt_lo, &xfrt_hi);
    for (int t = (int)xfrt_lo; t < (int)xfrt_hi; t++) {
        if (r->slot[(size_t)t * k] >= 0)
            continue;
        float *yr = o.y + (size_t)t * dim;
        const float *xb = o.base ? o.base + (size_t)t * dim : NULL;
        for (int d = 0; d < dim; d++) {
            float acc = 0.0f;
            yr[d] = xb ? xb[d] + acc : acc;
        }
    }
}

XFRT_API void xfrt_moe_combine_add(float *y, const float *ys, const XfrtRoute *r, const float *res,
                                   int dim)
{
    int n = r->n, k = r->top_k;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (2.0 * k + (res ? 1 : 0)) * n * dim, &xfrt_lo, &xfrt_hi);
    for (int t = (int)xfrt_lo; t < (int)xfrt_hi; t++) {
        float *yr = y + (size_t)t * dim;
        for (int d = 0; d < dim; d++)
            yr[d] = 0.0f;
        for (int i = 0; i < k; i++) {
            int32_t a = r->slot[(size_t)t * k + i];
            if (a < 0)
                continue;
            float g = r->gate[a];
            const float *src = ys + (size_t)a * dim;
            for (int d = 0; d < dim; d++)
                yr[d] += g * src[d];
        }
        if (res) {      /* the residual add, as xfrt_add computes it */
            const float *rr = res + (size_t)t * dim;
            for (int d = 0; d < dim; d++)
                yr[d] = rr[d] + yr[d];
        }
    }
}

XFRT_API void xfrt_moe_combine(float *y, const float *ys, const XfrtRoute *r, int dim)
{
    xfrt_moe_combine_add(y, ys, r, NULL, dim);
}

/* ---- Mixture-of-Depths ----------------------------------------------------- */

/* Row a ranks above row b: larger r (NaN lowest), ties to the lower row. */
static inline int xfrt_mod_beats(const float *r, int32_t a, int32_t b)
{
    float ra = r[a], rb = r[b];
    if (isnan(ra))
        ra = -INFINITY;
    if (isnan(rb))
        rb = -INFINITY;
    if (ra != rb)
        return ra > rb;
    return a < b;
}

/* Heap of rows with the lowest-ranked on top. */
static inline void xfrt_mod_sift(int32_t *h, int size, int i, const float *r)
{
    for (;;) {
        int w = i, c1 = 2 * i + 1, c2 = 2 * i + 2;
        if (c1 < size && xfrt_mod_beats(r, h[w], h[c1]))
            w = c1;
        if (c2 < size && xfrt_mod_beats(r, h[w], h[c2]))
            w = c2;
        if (w == i)
            return;
        int32_t tmp = h[i];
        h[i] = h[w];
        h[w] = tmp;
        i = w;
    }
}

/* In-place ascending heapsort of int32 values. */
static inline void xfrt_sort_i32(int32_t *v, int len)
{
    for (int start = len / 2 - 1, end = len; end > 1;) {
        int i;
        if (start >= 0)
            i = start--;
        else {
            end--;
            int32_t tmp = v[0];
            v[0] = v[end];
            v[end] = tmp;
            i = 0;
        }
        for (;;) {      /* sift down within [0, end) for a max-heap */
            int w = i, c1 = 2 * i + 1, c2 = 2 * i + 2;
            if (c1 < end && v[c1] > v[w])
                w = c1;
            if (c2 < end && v[c2] > v[w])
                w = c2;
            if (w == i)
                break;
            int32_t tmp = v[i];
            v[i] = v[w];
            v[w] = tmp;
            i = w;
        }
    }
}

XFRT_API int xfrt_mod_select(int32_t *idx, const float *r, int n, int64_t cap_num, int64_t cap_den,
                             int decode, float threshold)
{
    if (n <= 0)
        return 0;
    /* every thread counts; one writes idx */
    int lead = xfrt_lead();
    if (decode) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (r[i] > threshold) {
                if (lead)
                    idx[k] = i;
                k++;
            }
        return k;
    }
    int k = cap_num <= 0 ? 0
          : cap_den <= 0 ? n
          : (int)xfrt_ceil_div((uint64_t)cap_num, (uint64_t)n, (uint64_t)cap_den, 1, n);
    if (k == 0 || !lead)
        return k;
    for (int i = 0; i < k; i++)
        idx[i] = i;
    if (k == n)
        return k;
    for (int i = k / 2 - 1; i >= 0; i--)
        xfrt_mod_sift(idx, k, i, r);
    for (int i = k; i < n; i++)
        if (xfrt_mod_beats(r, i, idx[0])) {
            idx[0] = i;
            xfrt_mod_sift(idx, k, 0, r);
        }
    xfrt_sort_i32(idx, k);
    return k;
}

XFRT_API void xfrt_gather_rows(float *y, const float *x, const int32_t *idx, int k, int dim)
{
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(k), (double)k * dim, &xfrt_lo, &xfrt_hi);
    for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++)
        memcpy(y + (size_t)i * dim, x + (size_t)idx[i] * dim, (size_t)dim * sizeof *y);
}

XFRT_API void xfrt_gather_i32(int32_t *y, const int32_t *x, const int32_t *idx, int k, int dim)
{
    if (!xfrt_lead())
        return;
    for (int i = 0; i < k; i++)
        memcpy(y + (size_t)i * dim, x + (size_t)idx[i] * dim, (size_t)dim * sizeof *y);
}

/* out may be x itself. */
XFRT_API void xfrt_mod_combine(float *out, const float *x, const float *xt, const float *y,
                               const float *r, const int32_t *idx, int n, int k, int dim,
                               int sigmoid)
{
    if (out != x) {
        long xfrt_lo, xfrt_hi;
        xfrt_split((long)(n), (double)n * dim, &xfrt_lo, &xfrt_hi);
        for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++)
            memcpy(out + (size_t)i * dim, x + (size_t)i * dim, (size_t)dim * sizeof *out);
        XFRT_BARRIER();     /* the routed rows below overwrite copied ones */
    }
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(k), 3.0 * k * dim, &xfrt_lo, &xfrt_hi);
    for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++) {
        size_t row = (size_t)idx[i] * dim;
        float g = sigmoid ? 1.0f / (1.0f + expf(-r[idx[i]])) : r[idx[i]];
        for (int d = 0; d < dim; d++)
            out[row + d] = x[row + d] + g * (y[(size_t)i * dim + d] - xt[(size_t)i * dim + d]);
    }
}

XFRT_API void xfrt_mod_linear_fused(const float *x, int k, int in, const XfrtNorm *norm,
                                    const XfrtLinearOut *out, int n)
{
    const XfrtLinearOut *o = out;
    if (o->y != o->base) {
        /* rows not routed: a copy of x; idx is ascending, so a thread finds
         * the first routed row of its range by bisection and walks on */
        int dim = o->cols;
        long xfrt_lo, xfrt_hi;
        xfrt_split((long)(n), (double)n * dim, &xfrt_lo, &xfrt_hi);
        int lo = 0, hi = k;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (o->rows[mid] < xfrt_lo)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (int t = (int)xfrt_lo; t < (int)xfrt_hi; t++) {
            if (lo < k && o->rows[lo] == t) {
                lo++;
                continue;
            }
            memcpy(o->y + (size_t)t * dim, o->base + (size_t)t * dim, (size_t)dim * sizeof *o->y);
        }
    }
    xfrt_linear_fused(x, k, in, norm, out, 1);
}

/* ---- sparse FFN ----------------------------------------------------------- */

XFRT_API void xfrt_sffn_select(int32_t *sel, const float *c, int n, int hidden, int block)
{
    int groups = block > 0 ? hidden / block : 0;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * hidden, &xfrt_lo, &xfrt_hi);
    for (int t = (int)xfrt_lo; t < (int)xfrt_hi; t++)
        for (int m = 0; m < groups; m++) {
            const float *cg = c + (size_t)t * hidden + (size_t)m * block;
            int best = 0;
            for (int j = 1; j < block; j++)
                if (cg[j] > cg[best])
                    best = j;
            sel[(size_t)t * groups + m] = m * block + best;
        }
}

/* y must not overlap x. */
XFRT_API void xfrt_sffn_apply(float *y, const float *x, const int32_t *sel, const float *W1,
                              const float *b1, const float *W2, const float *b2, int n, int dim,
                              int hidden, int n_groups)
{
    /* a dot product and (when relu passes) an axpy per chosen unit */
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), 4.0 * n * n_groups * dim, &xfrt_lo, &xfrt_hi);
    for (int t = (int)xfrt_lo; t < (int)xfrt_hi; t++) {
        const float *xr = x + (size_t)t * dim;
        float *yr = y + (size_t)t * dim;
        for (int d = 0; d < dim; d++)
            yr[d] = b2 ? b2[d] : 0.0f;
        for (int m = 0; m < n_groups; m++) {
            int32_t j = sel[(size_t)t * n_groups + m];
            float h = xfrt_dot(xr, W1 + (size_t)j * dim, dim) + (b1 ? b1[j] : 0.0f);
            if (!(h > 0.0f))
                continue;   /* relu: adds nothing */
            for (int d = 0; d < dim; d++)
                yr[d] += h * W2[(size_t)d * hidden + j];
        }
    }
}
