/* kernels_dense.c - row-wise kernels: embedding, norms, the linear layer,
 * activations and RoPE.
 *
 * Every dot product in the runtime (xfrt_dot, the linear tiles) accumulates in
 * XFRT_LANES independent lanes and sums them in one fixed tree, so a given
 * (row, column) gets the same bits whichever tile shape, thread or call
 * computed it. */
#include <math.h>
#include <string.h>

#include "xfrt.h"

#include "xfrt_isa.h"
#include "xfrt_lanes.h"
#include "xfrt_vmath.h"

XFRT_API void xfrt_embed(float *y, const float *table, const int32_t *idx, int n, int dim)
{
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(n), (double)n * dim, &xfrt_lo, &xfrt_hi);
    for (int i = (int)xfrt_lo; i < (int)xfrt_hi; i++)
        memcpy(y + (size_t)i * dim, table + (size_t)idx[i] * dim, (size_t)dim * sizeof *y);
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

/* ---- linear ---------------------------------------------------------------
 * y[i, o] = x[i, :] . W[o, :].  A tile is R rows of x times C rows of W, each
 * output accumulated in lanes over the whole of `in`.  Tiles are grouped into
 * items of (a block of rows) x (a block of columns whose W rows stay in L2);
 * items are the parallel loop, in column-block-major order. */
#ifndef XFRT_TILE_R
#if defined(__clang__)
#define XFRT_TILE_R 4       /* measured best for each compiler on AVX2 */
#define XFRT_TILE_C 3
#else
#define XFRT_TILE_R 6
#define XFRT_TILE_C 2
#endif
#endif
#define XFRT_ROW_BLOCK (16 * XFRT_TILE_R)

XFRT_INLINE void xfrt_linear_tile(float *y, const float *x, const float *W, int in, int out,
                                  int R, int C)
{
    if (R == 1 && C == 1) {     /* the same sum, as xfrt_dot computes it */
        y[0] = xfrt_dot(x, W, in);
        return;
    }
    XfrtLanes acc[XFRT_TILE_R][XFRT_TILE_C], xv[XFRT_TILE_R], wv[XFRT_TILE_C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            XFRT_LZERO(acc[r][c]);
    int k = 0;
    for (; k + XFRT_LANES <= in; k += XFRT_LANES)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                XfrtLanes a, b;     /* the compiler keeps one load of each */
                XFRT_LLOAD(a, x + (size_t)r * in + k);
                XFRT_LLOAD(b, W + (size_t)c * in + k);
                XFRT_LFMA(acc[r][c], a, b);
            }
    if (k < in) {
        for (int r = 0; r < R; r++)
            XFRT_LTAIL(xv[r], x + (size_t)r * in + k, in - k);
        for (int c = 0; c < C; c++)
            XFRT_LTAIL(wv[c], W + (size_t)c * in + k, in - k);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                XFRT_LFMA(acc[r][c], xv[r], wv[c]);
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            y[(size_t)r * out + c] = xfrt_lanes_sum(&acc[r][c]);
}

/* One band of R rows (R <= XFRT_TILE_R, a constant after inlining) over
 * columns [c0, c1). */
XFRT_INLINE void xfrt_linear_band(float *y, const float *x, const float *W, int in, int out,
                                  int c0, int c1, int R)
{
    int c = c0;
    for (; c + XFRT_TILE_C <= c1; c += XFRT_TILE_C)
        xfrt_linear_tile(y + c, x, W + (size_t)c * in, in, out, R, XFRT_TILE_C);
    for (; c < c1; c++)
        xfrt_linear_tile(y + c, x, W + (size_t)c * in, in, out, R, 1);
}

/* Rows [r0, r1) x columns [c0, c1) of y. */
static inline void xfrt_linear_block(float *y, const float *x, const float *W, int in, int out,
                                     int r0, int r1, int c0, int c1)
{
    int r = r0;
    for (; r + XFRT_TILE_R <= r1; r += XFRT_TILE_R)
        xfrt_linear_band(y + (size_t)r * out, x + (size_t)r * in, W, in, out, c0, c1, XFRT_TILE_R);
    float *yr = y + (size_t)r * out;
    const float *xr = x + (size_t)r * in;
    switch (r1 - r) {   /* the remaining rows, as one band */
    case 0: break;
    case 1: xfrt_linear_band(yr, xr, W, in, out, c0, c1, 1); break;
#if XFRT_TILE_R > 2
    case 2: xfrt_linear_band(yr, xr, W, in, out, c0, c1, 2); break;
#endif
#if XFRT_TILE_R > 3
    case 3: xfrt_linear_band(yr, xr, W, in, out, c0, c1, 3); break;
#endif
#if XFRT_TILE_R > 4
    case 4: xfrt_linear_band(yr, xr, W, in, out, c0, c1, 4); break;
#endif
#if XFRT_TILE_R > 5
    case 5: xfrt_linear_band(yr, xr, W, in, out, c0, c1, 5); break;
#endif
    default:    /* XFRT_TILE_R above 6: one row at a time */
        for (; r < r1; r++)
            xfrt_linear_band(y + (size_t)r * out, x + (size_t)r * in, W, in, out, c0, c1, 1);
    }
}

/* Columns per block: W rows of one block take about 192 KiB (at least one
 * tile, at most 64 tiles); a multiple of the tile width. */
static inline int xfrt_linear_cols(int in, int out)
{
    long cols = 192L * 1024 / ((long)(in > 0 ? in : 1) * (long)sizeof(float));
    cols = cols / XFRT_TILE_C * XFRT_TILE_C;
    if (cols < XFRT_TILE_C)
        cols = XFRT_TILE_C;
    if (cols > 64 * XFRT_TILE_C)
        cols = 64 * XFRT_TILE_C;
    return cols < out ? (int)cols : (out > 0 ? out : 1);
}

/* The blocking of an [n, in] x [out, in]^T product: rows x cols per item. */
static inline void xfrt_linear_blocking(int n, int in, int out, int *rows_out, int *cols_out)
{
    int cols = xfrt_linear_cols(in, out);
    int rows = XFRT_ROW_BLOCK;
    if (n < XFRT_TILE_R) {
        /* decode: a matrix-vector product bound by memory; many small column blocks */
        rows = n;
        cols = 16 * XFRT_TILE_C < out ? 16 * XFRT_TILE_C : out;
    }
    /* enough items to share among threads: narrower blocks, then shorter ones
     * (any blocking gives the same bits) */
    while ((long)((out + cols - 1) / cols) * ((n + rows - 1) / rows) < 64) {
        if (cols >= 8 * XFRT_TILE_C)
            cols = cols / 2 / XFRT_TILE_C * XFRT_TILE_C;
        else if (rows >= 2 * XFRT_TILE_R)
            rows = rows / 2 / XFRT_TILE_R * XFRT_TILE_R;
        else
            break;
    }
    *rows_out = rows;
    *cols_out = cols;
}

XFRT_API void xfrt_linear(float *y, const float *x, const float *W, int n, int in, int out)
{
    if (n <= 0 || out <= 0)
        return;
    int rows, cols;
    xfrt_linear_blocking(n, in, out, &rows, &cols);
    int n_cb = (out + cols - 1) / cols, n_rb = (n + rows - 1) / rows;
    long items = (long)n_cb * n_rb;
    /* 2 flops per multiply-add; a matrix-vector product over a big W stays
     * parallel (it is bound by memory bandwidth, which two cores share well) */
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(items), 2.0 * n * in * out, &xfrt_lo, &xfrt_hi);
    for (long it = (long)xfrt_lo; it < (long)xfrt_hi; it++) {
        int cb = (int)(it / n_rb), rb = (int)(it % n_rb);
        int c1 = (cb + 1) * cols < out ? (cb + 1) * cols : out;
        int r1 = (rb + 1) * rows < n ? (rb + 1) * rows : n;
        xfrt_linear_block(y, x, W, in, out, rb * rows, r1, cb * cols, c1);
    }
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

/* ---- the fused product ------------------------------------------------------
 * Items are (segment, column block, row block), in that order; an item runs
 * its rows in bands: the band's rows are normalized into a stack buffer (the
 * prologue; nothing is stored to the arena), xfrt_linear_block computes the
 * band times the block's W rows into a small tile buffer (the same sums as
 * xfrt_linear: lanes over the whole of `in`), and the epilogue turns the tile
 * into the output while it is in L1.  The blocking depends only on n, in and
 * the segments' widths, never on the thread count. */
#define XFRT_FUSED_BLK (64 * XFRT_TILE_C)   /* widest column block */

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
        float *yr = o->y + (size_t)(r + i) * o->cols + c0;
        if (o->res) {
            const float *rr = o->res + (size_t)(r + i) * o->cols + c0;
            for (int j = 0; j < w; j++)
                yr[j] = rr[j] + a[j];
        } else {
            memcpy(yr, a, (size_t)w * sizeof *yr);
        }
    }
}

/* Column block width of a segment: even (RoPE pairs), at most XFRT_FUSED_BLK. */
static inline int xfrt_fused_width(int w)
{
    if (w > XFRT_FUSED_BLK)
        w = XFRT_FUSED_BLK;
    w &= ~1;
    return w < 2 ? 2 : w;
}

XFRT_API void xfrt_linear_fused_rows(const float *x, const int32_t *rowidx, int n, int in,
                                     const XfrtNorm *norm, const XfrtLinearOut *out, int n_out)
{
    if (n <= 0 || n_out <= 0)
        return;
    int rows = XFRT_ROW_BLOCK, width[XFRT_FUSED_MAX_OUT];
    for (int s = 0; s < n_out; s++)
        width[s] = xfrt_fused_width(n < XFRT_TILE_R ? 16 * XFRT_TILE_C : xfrt_linear_cols(in, out[s].cols));
    if (n < XFRT_TILE_R)
        rows = n;
    /* enough items to share among the team's threads, 16 each (any blocking
     * gives the same bits, so it may depend on the thread count) */
    int team_t, team_n;
    xfrt_team(&team_t, &team_n);
    long want = 16L * (team_n > 1 ? team_n : 1);
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
        if (widest >= 8 * XFRT_TILE_C) {
            for (int s = 0; s < n_out; s++)
                if (width[s] == widest)
                    width[s] = xfrt_fused_width(width[s] / 2);
        } else if (rows >= 2 * XFRT_TILE_R) {
            rows = rows / 2 / XFRT_TILE_R * XFRT_TILE_R;
        } else {
            break;
        }
    }
    /* with a prologue or a gather, row blocks that xn holds whole */
    while ((prologue || rowidx) && rows >= 2 * XFRT_TILE_R && (long)rows * in > XFRT_NORM_BUF)
        rows = rows / 2 / XFRT_TILE_R * XFRT_TILE_R;
    items = per_rb * ((n + rows - 1) / rows);
    /* Rows are normalized (or gathered) into xn: the whole row block when it
     * fits, so every item of the block reuses it; else a band at a time. */
    int band = XFRT_TILE_R, whole = 0;
    if (prologue || rowidx) {
        if ((long)rows * in <= XFRT_NORM_BUF)
            whole = 1;
        else if (band * in > XFRT_NORM_BUF)
            band = XFRT_NORM_BUF / (in > 0 ? in : 1) > 0 ? XFRT_NORM_BUF / in : 1;
    }
    double work = 0;
    for (int s = 0; s < n_out; s++)
        work += (out[s].W2 ? 4.0 : 2.0) * n * in * out[s].cols;
    (void)work;
    /* Items run row block by row block (then segment, then column block), so a
     * thread's consecutive items share rows: the row statistics of a block
     * are computed once per thread, and the band last read stays in xn. */
    float xn[XFRT_NORM_BUF], mean[XFRT_ROW_BLOCK], inv[XFRT_ROW_BLOCK];
    int stats_rb = -1, band_at = -1;
    long xfrt_lo, xfrt_hi;
    xfrt_split((long)(items), work, &xfrt_lo, &xfrt_hi);
    for (long it = (long)xfrt_lo; it < (long)xfrt_hi; it++) {
        float blk[XFRT_TILE_R * XFRT_FUSED_BLK], blk2[XFRT_TILE_R * XFRT_FUSED_BLK];
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
        if (whole && stats_rb != rb)      /* the row block, once per thread */
            for (int i = r0; i < r1; i++) {
                const float *xr = rowidx ? x + (size_t)rowidx[i] * in : x + (size_t)i * in;
                float *yr = xn + (size_t)(i - r0) * in;
                if (prologue)
                    xfrt_norm_apply(yr, xr, norm->w, norm->kind == XFRT_NORM_LAYER ? norm->b : NULL, in,
                                    mean[i - r0], inv[i - r0]);
                else
                    memcpy(yr, xr, (size_t)in * sizeof *yr);
            }
        stats_rb = rb;
        for (int r = r0; r < r1; r += band) {
            int R = r + band < r1 ? band : r1 - r;
            const float *xb = x + (size_t)r * in;
            if (whole) {
                xb = xn + (size_t)(r - r0) * in;
            } else if (prologue || rowidx) {
                if (band_at != r)
                    for (int i = 0; i < R; i++) {
                        const float *xr = rowidx ? x + (size_t)rowidx[r + i] * in : xb + (size_t)i * in;
                        float *yr = xn + (size_t)i * in;
                        if (prologue)
                            xfrt_norm_apply(yr, xr, norm->w, norm->kind == XFRT_NORM_LAYER ? norm->b : NULL,
                                            in, mean[r + i - r0], inv[r + i - r0]);
                        else
                            memcpy(yr, xr, (size_t)in * sizeof *yr);
                    }
                band_at = r;
                xb = xn;
            }
            xfrt_linear_block(blk, xb, o->W + (size_t)c0 * in, in, XFRT_FUSED_BLK, 0, R, 0, c1 - c0);
            if (o->W2)
                xfrt_linear_block(blk2, xb, o->W2 + (size_t)c0 * in, in, XFRT_FUSED_BLK, 0, R, 0,
                                  c1 - c0);
            xfrt_fused_epilogue(o, blk, o->W2 ? blk2 : NULL, r, R, c0, c1 - c0);
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
