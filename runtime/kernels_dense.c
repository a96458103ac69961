/* kernels_dense.c - row-wise kernels: embedding, norms, the matrix products
 * (plain and fused, on the micro-kernels of xfrt_gemm.h), activations and
 * RoPE.
 *
 * Every output of a product is one multiply-add chain over k in order
 * (xfrt_gemm.h), so a given (row, column) gets the same bits whichever tile
 * shape, thread or call computed it. */
#include <math.h>
#include <string.h>

#include "xfrt.h"

#include "xfrt_isa.h"
#include "xfrt_wfmt.h"
#include "xfrt_lanes.h"
#include "xfrt_vmath.h"
#include "xfrt_gemm.h"

XFRT_API void xfrt_embed(float *y, const XfrtMat *table, const int32_t *idx, int n, int dim)
{
    long xfrt_lo, xfrt_hi;
    (void)dim;
    xfrt_split((long)(n), (double)n * table->cols, &xfrt_lo, &xfrt_hi);
    for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++)
        xfrt_mat_row(table, idx[i], y + (size_t)i * table->cols);
}

/* Element-wise loops run in chunks of this many elements, one chunk per
 * iteration (whether they are shared among threads is xfrt_split's call). */
#define XFRT_CHUNK 4096

/* Rough flops per element, for the xfrt_split work estimates. */
#define XFRT_COST_NORM 4        /* a double-precision running sum, then a scale */
#define XFRT_COST_ACT 16        /* a vector exp (gelu: two) and a division */
#define XFRT_COST_ROPE 4        /* per element; cos, sin from the table */

static inline void xfrt_add_chunk(float *y, const float *a, const float *b, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        y[i] = a[i] + b[i];
}

XFRT_API void xfrt_add(float *y, const float *a, const float *b, size_t count)
{
    size_t chunks = (count + XFRT_CHUNK - 1) / XFRT_CHUNK;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(chunks), (double)count, &xfrt_lo, &xfrt_hi);
    for (size_t c = (size_t)xfrt_lo; c < (size_t)xfrt_hi; c++)
        xfrt_add_chunk(y, a, b, c * XFRT_CHUNK, c + 1 < chunks ? (c + 1) * XFRT_CHUNK : count);
}

XFRT_API void xfrt_add_bias(float *y, const float *x, const float *b, int n, int dim)
{
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * dim, &xfrt_lo, &xfrt_hi);
    for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++)
        for (int d = 0; d < dim; d++)
            y[(size_t)i * dim + d] = x[(size_t)i * dim + d] + b[d];
}

/* One row of each norm, in two steps: the statistics (accumulated in double,
 * in index order), then the scaling.  The fused product's prologue computes
 * the statistics once per row and scales while it reads the row, with the
 * same functions, so a normalized row has the same bits wherever it is made. */
static inline void xfrt_norm_stats(const float *xr, int dim, float eps, int layer, float *mean,
                                   float *inv)
{
    double sum = 0, ss = 0, m = 0;
    if (layer) {
        for (int d = 0; d < dim; d++)
            sum += xr[d];
        m = sum / (dim > 0 ? dim : 1);
        for (int d = 0; d < dim; d++)
            ss += ((double)xr[d] - m) * ((double)xr[d] - m);
    } else {
        for (int d = 0; d < dim; d++)
            ss += (double)xr[d] * xr[d];
    }
    *inv = (float)(1.0 / sqrt(ss / (dim > 0 ? dim : 1) + (double)eps));
    *mean = (float)m;
}

static inline void xfrt_norm_apply(float *yr, const float *xr, const float *w, const float *b,
                                   int dim, float mean, float inv)
{
    if (b)
        for (int d = 0; d < dim; d++)
            yr[d] = (xr[d] - mean) * inv * w[d] + b[d];
    else
        for (int d = 0; d < dim; d++)
            yr[d] = xr[d] * inv * w[d];
}

static inline void xfrt_rmsnorm_row(float *yr, const float *xr, const float *w, int dim, float eps)
{
    float m, inv;
    xfrt_norm_stats(xr, dim, eps, 0, &m, &inv);
    xfrt_norm_apply(yr, xr, w, NULL, dim, m, inv);
}

static inline void xfrt_layernorm_row(float *yr, const float *xr, const float *w, const float *b,
                                      int dim, float eps)
{
    float m, inv;
    xfrt_norm_stats(xr, dim, eps, 1, &m, &inv);
    xfrt_norm_apply(yr, xr, w, b, dim, m, inv);
}

XFRT_API void xfrt_rmsnorm(float *y, const float *x, const float *w, int n, int dim, float eps)
{
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * dim * XFRT_COST_NORM, &xfrt_lo, &xfrt_hi);
    for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++)
        xfrt_rmsnorm_row(y + (size_t)i * dim, x + (size_t)i * dim, w, dim, eps);
}

XFRT_API void xfrt_layernorm(float *y, const float *x, const float *w, const float *b, int n,
                             int dim, float eps)
{
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * dim * 2 * XFRT_COST_NORM, &xfrt_lo, &xfrt_hi);
    for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++)
        xfrt_layernorm_row(y + (size_t)i * dim, x + (size_t)i * dim, w, b, dim, eps);
}

/* ---- activations -----------------------------------------------------------
 * Vectorized (xfrt_vmath.h): each element is computed alone, the array's
 * tail through the same code as whole vectors, so an element's bits do not
 * depend on where a chunk or a fused column block starts. */

/* y = act(x) (* b) over count elements, one function per activation, so
 * each vector formula is compiled once */
#define XFRT_ACT_LOOP(name, f)                                                          \
    static void name(float *y, const float *x, const float *b, size_t count)            \
    {                                                                                   \
        size_t i = 0;                                                                   \
        for (; i + XFRT_VW <= count; i += XFRT_VW) {                                    \
            XfrtV v = f(xfrt_v_load(x + i));                                            \
            xfrt_v_store(y + i, b ? xfrt_v_mul(v, xfrt_v_load(b + i)) : v);            \
        }                                                                               \
        if (i < count) {                                                                \
            int r = (int)(count - i);                                                   \
            XfrtV v = f(xfrt_v_loadn(x + i, r));                                        \
            xfrt_v_storen(y + i, b ? xfrt_v_mul(v, xfrt_v_loadn(b + i, r)) : v, r);    \
        }                                                                               \
    }

/* relu: max gives 0 for NaN and -0, as x > 0 ? x : 0 */
XFRT_V_INLINE XfrtV xfrt_v_relu(XfrtV x) { return xfrt_v_max(x, xfrt_v_set1(0.0f)); }
XFRT_V_INLINE XfrtV xfrt_v_relu2(XfrtV x)
{
    XfrtV r = xfrt_v_relu(x);
    return xfrt_v_mul(r, r);
}
XFRT_ACT_LOOP(xfrt_act_relu_n, xfrt_v_relu)
XFRT_ACT_LOOP(xfrt_act_relu2_n, xfrt_v_relu2)
XFRT_ACT_LOOP(xfrt_act_gelu_n, xfrt_v_gelu)
XFRT_ACT_LOOP(xfrt_act_gelu_tanh_n, xfrt_v_gelu_tanh)
XFRT_ACT_LOOP(xfrt_act_silu_n, xfrt_v_silu)

/* Elements [lo, hi); y may be x (in place). */
static void xfrt_act_chunk(float *y, const float *x, const float *b, size_t lo, size_t hi, int act)
{
    y += lo, x += lo, b = b ? b + lo : NULL;
    switch (act) {
    case XFRT_ACT_RELU: xfrt_act_relu_n(y, x, b, hi - lo); break;
    case XFRT_ACT_RELU2: xfrt_act_relu2_n(y, x, b, hi - lo); break;
    case XFRT_ACT_GELU: xfrt_act_gelu_n(y, x, b, hi - lo); break;
    case XFRT_ACT_GELU_TANH: xfrt_act_gelu_tanh_n(y, x, b, hi - lo); break;
    default: xfrt_act_silu_n(y, x, b, hi - lo); break;
    }
}

static inline void xfrt_act_all(float *y, const float *x, const float *b, size_t count, int act)
{
    size_t chunks = (count + XFRT_CHUNK - 1) / XFRT_CHUNK;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(chunks), (double)count * XFRT_COST_ACT, &xfrt_lo, &xfrt_hi);
    for (size_t c = (size_t)xfrt_lo; c < (size_t)xfrt_hi; c++)
        xfrt_act_chunk(y, x, b, c * XFRT_CHUNK, c + 1 < chunks ? (c + 1) * XFRT_CHUNK : count, act);
}

XFRT_API void xfrt_act(float *y, const float *x, size_t count, int act)
{
    xfrt_act_all(y, x, NULL, count, act);
}

XFRT_API void xfrt_glu(float *y, const float *a, const float *b, size_t count, int act)
{
    xfrt_act_all(y, a, b, count, act);
}

/* ---- the product driver -----------------------------------------------------
 * Work items are (row block, segment, column block), in that order: a row
 * block is up to XFRT_MC rows of x, the row blocks of a product of equal size
 * (n <= XFRT_SKINNY: all n rows), a column
 * block up to XFRT_NC columns of one output (whole panels).  An item runs K in
 * blocks of XFRT_KC: it packs its rows' k-block into A (row by row, in tiles
 * of rows), normalizing them on the way (the prologue: the row statistics once
 * per row block and thread, then xfrt_norm_apply on the k-block, so a
 * normalized element has the bits xfrt_rmsnorm gives it), and multiplies it
 * into the item's C buffer with the micro-kernel of xfrt_gemm.h:
 *   n > XFRT_SKINNY: for each panel (a bf16 panel widened once per k-block
 *     into an fp32 block reused by every row tile; a q8 panel's q's widened
 *     to floats the same way, its scales kept), for each tile of XFRT_MR
 *     rows: XFRT_MR x XFRT_NR outputs, the first tiles prefetching the next
 *     panel;
 *   n <= XFRT_SKINNY (decode, MoD's routed rows, small expert groups): all n
 *     rows times XFRT_SKINNY_PANELS panels at a time, read in their stored format:
 *     a stream through the panels, parallel over column blocks.
 * After the last k-block the epilogue turns C into the output while it is in
 * cache.  Which item a thread runs and how the blocks are cut change no bit
 * (xfrt_gemm.h: one chain per output). */
#define XFRT_FUSED_BLK XFRT_NC   /* row stride of the C (epilogue) buffers */

/* cos and sin of p * base^(-2 pair / hd): from the table made in open when p
 * is in it (the same doubles), else computed */
static inline void xfrt_rope_cs(const double *cs, int len, int32_t p, int pair, int hd,
                                double base, double *c, double *s)
{
    if (cs && p >= 0 && p < len) {
        const double *e = cs + 2 * ((size_t)p * (size_t)(hd / 2) + (size_t)pair);
        *c = e[0];
        *s = e[1];
        return;
    }
    double theta = (double)p * pow(base, -2.0 * pair / hd);
    *c = cos(theta);
    *s = sin(theta);
}

/* One band's epilogue: rows [r, r + R) of the block at columns [c0, c0 + w). */
static inline void xfrt_fused_epilogue(const XfrtLinearOut *o, float *blk, const float *blk2,
                                       int r, int R, int c0, int w)
{
    for (int i = 0; i < R; i++) {
        float *a = blk + (size_t)i * XFRT_FUSED_BLK;
        const float *b = blk2 ? blk2 + (size_t)i * XFRT_FUSED_BLK : NULL;
        if (o->bias)
            for (int j = 0; j < w; j++)
                a[j] = a[j] + o->bias[c0 + j];
        if (b) {
            xfrt_act_chunk(a, a, NULL, 0, (size_t)w, o->act);
            for (int j = 0; j < w; j++)
                a[j] *= o->bias2 ? b[j] + o->bias2[c0 + j] : b[j];
        } else if (o->act >= 0) {
            xfrt_act_chunk(a, a, NULL, 0, (size_t)w, o->act);
        }
        if (o->rope_pos) {     /* pairs (2i, 2i+1) of a head; c0 and w are even */
            int hd = o->rope_head_dim;
            int32_t p = o->rope_pos[r + i];
            for (int j = 0; j < w; j += 2) {
                double cs, sn, x0 = a[j], x1 = a[j + 1];
                xfrt_rope_cs(o->rope_cs, o->rope_len, p, (c0 + j) % hd / 2, hd, o->rope_base, &cs, &sn);
                a[j] = (float)(x0 * cs - x1 * sn);
                a[j + 1] = (float)(x0 * sn + x1 * cs);
            }
        }
        size_t at = o->rows ? (size_t)o->rows[r + i] : (size_t)(r + i);
        float *yr = o->y + at * o->cols + c0;
        const float *rr = o->res ? o->res + (size_t)(r + i) * o->cols + c0 : NULL;
        const float *xb = o->base ? o->base + at * o->cols + c0 : NULL;
        if (o->mod_xt) {        /* as xfrt_mod_combine; yr may be xb */
            float rv = o->mod_r[at], g = o->mod_sigmoid ? 1.0f / (1.0f + expf(-rv)) : rv;
            const float *xt = o->mod_xt + (size_t)(r + i) * o->cols + c0;
            for (int j = 0; j < w; j++) {
                float v = rr ? rr[j] + a[j] : a[j];
                yr[j] = xb[j] + g * (v - xt[j]);
            }
        } else if (o->gate) {   /* as xfrt_moe_combine, then xfrt_add; yr may be xb */
            float g = o->gate[r + i];
            for (int j = 0; j < w; j++) {
                float v = rr ? rr[j] + a[j] : a[j];
                float acc = 0.0f;
                acc += g * v;
                yr[j] = xb ? xb[j] + acc : acc;
            }
        } else if (o->res) {
            for (int j = 0; j < w; j++)
                yr[j] = rr[j] + a[j];
        } else {
            memcpy(yr, a, (size_t)w * sizeof *yr);
        }
    }
}

/* Rows [r0, r1) of the product's input at k-block [kb, kb + kc) into A, in
 * tiles of R rows (zero rows past r1), each row XFRT_KC floats apart:
 * a[(tile * R + r) * XFRT_KC + k], so packing is a copy (or the norm) and the
 * kernel broadcasts from fixed offsets of one pointer.  Row i of the input is
 * row rowidx[i] of x (or row i), normalized when norm says so. */
static inline void xfrt_pack_a(float *a, int R, const float *x, const int32_t *rowidx, int in,
                               int r0, int r1, int kb, int kc, const XfrtNorm *norm,
                               const float *mean, const float *inv)
{
    int tiles = (r1 - r0 + R - 1) / R;
    for (int t = 0; t < tiles; t++)
        for (int r = 0; r < R; r++) {
            float *ar = a + ((size_t)t * R + r) * XFRT_KC;
            int i = r0 + t * R + r;
            if (i >= r1) {
                memset(ar, 0, (size_t)kc * sizeof *ar);
                continue;
            }
            const float *xr = (rowidx ? x + (size_t)rowidx[i] * in : x + (size_t)i * in) + kb;
            if (norm)
                xfrt_norm_apply(ar, xr, norm->w + kb,
                                norm->kind == XFRT_NORM_LAYER && norm->b ? norm->b + kb : NULL, kc,
                                mean[i - r0], inv[i - r0]);
            else
                memcpy(ar, xr, (size_t)kc * sizeof *ar);
        }
}

/* The skinny kernel: n rows (packed in tiles of xfrt_skinny_rows(n)) over np
 * panels of W from panel p0, into c (row stride XFRT_NC). */
static void xfrt_skinny(const XfrtMat *W, int n, const float *a, int p0, int np, int kb, int kc,
                        float *c, int load)
{
    static const XfrtUkFn group[3][2] = {{xfrt_uk_f32_r1_g, xfrt_uk_f32_r4_g},
                                         {xfrt_uk_bf16_r1_g, xfrt_uk_bf16_r4_g},
                                         {xfrt_uk_q8_r1_g, xfrt_uk_q8_r4_g}};
    static const XfrtUkFn one[3][2] = {{xfrt_uk_f32_r1_1, xfrt_uk_f32_r4_1},
                                       {xfrt_uk_bf16_r1_1, xfrt_uk_bf16_r4_1},
                                       {xfrt_uk_q8_r1_1, xfrt_uk_q8_r4_1}};
    static const int panels[2] = {XFRT_SKINNY_PANELS(1), XFRT_SKINNY_PANELS(4)};
    int f = W->fmt == XFRT_WF_BF16 ? 1 : W->fmt == XFRT_WF_Q8 ? 2 : 0;
    int r = n <= 1 ? 0 : 1, P = panels[r];
    (void)n;
    const unsigned char *b = xfrt_mat_panel(W, p0);
    size_t ps = W->panel_bytes;
    int p = 0;
    for (; p + P <= np; p += P)
        group[f][r](a, b + p * ps, ps, NULL, 0, kb, kc, c + p * XFRT_NR, load);
    for (; p < np; p++)
        one[f][r](a, b + p * ps, ps, NULL, 0, kb, kc, c + p * XFRT_NR, load);
}

/* One k-block of one product of an item: rows [0, rows) of A (packed in
 * tiles) times panels [p0, p0 + np) of W, into c. */
static void xfrt_item_product(const XfrtMat *W, const float *a, int n, int rows, int p0, int np,
                              int kb, int kc, float *c, float *bbuf)
{
    int load = kb > 0;
    if (n <= XFRT_SKINNY) {
        xfrt_skinny(W, n, a, p0, np, kb, kc, c, load);
        return;
    }
    int tiles = (rows + XFRT_MR - 1) / XFRT_MR;
    XfrtUkFn uk = W->fmt == XFRT_WF_Q8 ? xfrt_uk_gemm_q8 : xfrt_uk_gemm;
    /* the first tiles (up to XFRT_PF_TILES) bring the next panel's k-block
     * into cache, a slice each: 1.14 -> 1.07 s for the large bench model
     * against one tile fetching it all */
    int spread = tiles < XFRT_PF_TILES ? tiles : XFRT_PF_TILES;
    size_t pfs = xfrt_mat_kstep(W) / (size_t)spread, share = pfs * (size_t)kc;
    for (int p = 0; p < np; p++) {
        const unsigned char *b = xfrt_mat_panel(W, p0 + p);
        int k0 = kb;
        if (W->fmt == XFRT_WF_BF16)
            xfrt_mat_widen_bf16(W, p0 + p, kb, kc, bbuf);
        else if (W->fmt == XFRT_WF_Q8)
            xfrt_mat_widen_q8(W, p0 + p, kb, kc, bbuf);
        if (W->fmt != XFRT_WF_F32) {
            b = (const unsigned char *)bbuf;
            k0 = 0;
        }
        const unsigned char *pf = p + 1 < np ? xfrt_mat_at_k(W, p0 + p + 1, kb) : NULL;
        for (int t = 0; t < tiles; t++)
            uk(a + (size_t)t * XFRT_MR * XFRT_KC, b, 0, pf && t < spread ? pf + t * share : NULL, pfs,
               k0, kc, c + (size_t)t * XFRT_MR * XFRT_NC + p * XFRT_NR, load);
    }
}

XFRT_API void xfrt_linear_fused_rows(const float *x, const int32_t *rowidx, int n, int in,
                                     const XfrtNorm *norm, const XfrtLinearOut *out, int n_out)
{
    if (n <= 0 || n_out <= 0)
        return;
    if (n_out > XFRT_FUSED_MAX_OUT)
        n_out = XFRT_FUSED_MAX_OUT;
    int skinny = n <= XFRT_SKINNY;
    int rows = n, width[XFRT_FUSED_MAX_OUT];
    if (!skinny) {      /* row blocks of equal size, each at most XFRT_MC rows */
        int blocks = (n + XFRT_MC - 1) / XFRT_MC;
        rows = ((n + blocks - 1) / blocks + XFRT_MR - 1) / XFRT_MR * XFRT_MR;
    }
    for (int s = 0; s < n_out; s++)
        width[s] = XFRT_NC;
    /* enough items to share among the team's threads (any blocking gives the
     * same bits, so it may depend on the thread count): 4 a thread; 8 cut
     * the dim-512 bench model's blocks so fine that 2 threads ran 7% slower */
    int team_t, team_n;
    xfrt_team(&team_t, &team_n);
    long want = 4L * (team_n > 1 ? team_n : 1);
    if (team_n <= 1)
        want = 1;
    int prologue = norm && norm->kind != XFRT_NORM_NONE;
    long items, per_rb;
    int n_cb[XFRT_FUSED_MAX_OUT];
    for (;;) {
        per_rb = 0;
        int widest = 0;
        for (int s = 0; s < n_out; s++) {
            n_cb[s] = (out[s].cols + width[s] - 1) / width[s];
            per_rb += n_cb[s];
            widest = width[s] > widest ? width[s] : widest;
        }
        items = per_rb * ((n + rows - 1) / rows);
        if (items >= want)
            break;
        if (widest >= 2 * XFRT_NR && (skinny || widest > 2 * XFRT_NR)) {
            for (int s = 0; s < n_out; s++)
                if (width[s] == widest)
                    width[s] = widest / 2 / XFRT_NR * XFRT_NR;
        } else if (rows >= 2 * XFRT_MR && !skinny) {
            rows = (rows / 2 + XFRT_MR - 1) / XFRT_MR * XFRT_MR;
        } else {
            break;
        }
    }
    double work = 0;
    for (int s = 0; s < n_out; s++)
        work += (out[s].W2 ? 4.0 : 2.0) * n * in * out[s].cols;
    /* Items run row block by row block (then segment, then column block), so a
     * thread's consecutive items share rows: the row statistics of a block
     * are computed once per thread. */
    float mean[XFRT_MC], inv[XFRT_MC];
    int stats_rb = -1;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(items), work, &xfrt_lo, &xfrt_hi);
    /* A: a row block's k-block in tiles; C: the item's outputs (a second for
     * GLU's W2); B: one bf16 or q8 panel's k-block widened to fp32.  A and C of a
     * row block of XFRT_MC rows are the thread's slice of the model's
     * workspace (XfrtMat.ws); without one a thread runs its row blocks
     * XFRT_MC_STACK rows at a time in the stack's buffers: the same bits. */
    float a_st[(XFRT_MC_STACK > XFRT_SKINNY ? XFRT_MC_STACK : XFRT_SKINNY) * XFRT_KC];
    float c_st[XFRT_MC_STACK * XFRT_NC], c2_st[XFRT_MC_STACK * XFRT_NC], bbuf[XFRT_BBUF_FLOATS];
    float *a = a_st, *cbuf = c_st, *cbuf2 = c2_st;
    int cap = XFRT_MC_STACK;
    const XfrtMat *W0 = out[0].W;
    if (!skinny && rows > XFRT_MC_STACK && W0->ws && team_t < W0->ws_threads) {
        a = W0->ws + (size_t)team_t * xfrt_gemm_ws_floats();
        cbuf = a + (size_t)XFRT_MC * XFRT_KC;
        cbuf2 = cbuf + (size_t)XFRT_MC * XFRT_NC;
        cap = XFRT_MC;
    }
    for (long it = (long)xfrt_lo; it < (long)xfrt_hi; it++) {
        int rb = (int)(it / per_rb);
        long rest = it % per_rb;
        int s = 0;
        while (rest >= n_cb[s])
            rest -= n_cb[s++];
        const XfrtLinearOut *o = &out[s];
        int c0 = (int)rest * width[s], c1 = c0 + width[s] < o->cols ? c0 + width[s] : o->cols;
        int r0 = rb * rows, r1 = r0 + rows < n ? r0 + rows : n;
        if (prologue && stats_rb != rb)
            for (int i = r0; i < r1; i++)
                xfrt_norm_stats(rowidx ? x + (size_t)rowidx[i] * in : x + (size_t)i * in, in,
                                norm->eps, norm->kind == XFRT_NORM_LAYER, &mean[i - r0], &inv[i - r0]);
        stats_rb = rb;
        int p0 = c0 / XFRT_NR, np = (c1 - c0 + XFRT_NR - 1) / XFRT_NR;
        int tile = skinny ? xfrt_skinny_rows(n) : XFRT_MR;
        for (int q0 = r0; q0 < r1; q0 += cap) {
            int q1 = q0 + cap < r1 ? q0 + cap : r1;
            if (in <= 0) {      /* empty sums: zeros */
                memset(cbuf, 0, (size_t)cap * XFRT_NC * sizeof *cbuf);
                memset(cbuf2, 0, (size_t)cap * XFRT_NC * sizeof *cbuf2);
            }
            for (int kb = 0; kb < in; kb += XFRT_KC) {
                int kc = in - kb < XFRT_KC ? in - kb : XFRT_KC;
                xfrt_pack_a(a, tile, x, rowidx, in, q0, q1, kb, kc, prologue ? norm : NULL,
                            mean + (q0 - r0), inv + (q0 - r0));
                xfrt_item_product(o->W, a, n, q1 - q0, p0, np, kb, kc, cbuf, bbuf);
                if (o->W2)
                    xfrt_item_product(o->W2, a, n, q1 - q0, p0, np, kb, kc, cbuf2, bbuf);
            }
            xfrt_fused_epilogue(o, cbuf, o->W2 ? cbuf2 : NULL, q0, q1 - q0, c0, c1 - c0);
        }
    }
}

XFRT_API void xfrt_linear_fused(const float *x, int n, int in, const XfrtNorm *norm,
                                const XfrtLinearOut *out, int n_out)
{
    xfrt_linear_fused_rows(x, NULL, n, in, norm, out, n_out);
}

/* ---- RoPE -----------------------------------------------------------------
 * The rotations come from a table made once in open (xfrt_rope_table) per
 * distinct (head_dim, base) of the model: no pow, cos or sin per call. */

XFRT_API void xfrt_rope_table(double *cs, int len, int head_dim, double base)
{
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        double f = pow(base, -2.0 * i / head_dim);
        for (int p = 0; p < len; p++) {
            double theta = (double)p * f;
            cs[2 * ((size_t)p * half + i)] = cos(theta);
            cs[2 * ((size_t)p * half + i) + 1] = sin(theta);
        }
    }
}

/* ---- linear ---------------------------------------------------------------
 * The plain product is the driver above with one output and no prologue or
 * epilogue work: the same chains, so fused and unfused products agree bit for
 * bit. */
XFRT_API void xfrt_linear(float *y, const float *x, const XfrtMat *W, int n, int in, int out)
{
    XfrtLinearOut o = {.y = y, .cols = out, .W = W, .act = -1};
    xfrt_linear_fused_rows(x, NULL, n, in, NULL, &o, 1);
}


XFRT_API void xfrt_rope(float *y, const float *x, const int32_t *pos, int n, int heads,
                        int head_dim, double base, const double *cs, int cs_len)
{
    int half = head_dim / 2, width = heads * head_dim;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * width * XFRT_COST_ROPE, &xfrt_lo, &xfrt_hi);
    for (int t = (int)xfrt_lo; t < (int)xfrt_hi; t++) {
        const float *xr = x + (size_t)t * width;
        float *yr = y + (size_t)t * width;
        for (int i = 0; i < half; i++) {
            double c, s;
            xfrt_rope_cs(cs, cs_len, pos[t], i, head_dim, base, &c, &s);
            for (int h = 0; h < heads; h++) {
                size_t at = (size_t)h * head_dim + 2 * (size_t)i;
                double a = xr[at], b = xr[at + 1];
                yr[at] = (float)(a * c - b * s);
                yr[at + 1] = (float)(a * s + b * c);
            }
        }
        if (yr != xr && head_dim % 2)       /* an odd head_dim leaves its last lane alone */
            for (int h = 0; h < heads; h++)
                yr[(size_t)h * head_dim + head_dim - 1] = xr[(size_t)h * head_dim + head_dim - 1];
    }
}
