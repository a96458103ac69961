/* test_rt_kernels.c - every runtime kernel against a naive double-precision
 * version written here, at odd sizes, n = 0, ties, capacity drops, GQA and
 * windows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/xfrt.h"
#include "runtime/xfrt_wfmt.h"
#include "rt_test.h"

#define SENTINEL 12345.0f

/* |got - want| <= atol + rtol * scale (scale[i] or |want[i]| when NULL). */
static void check_close(const char *what, const float *got, const double *want,
                        const double *scale, size_t count, double rtol, double atol)
{
    size_t worst = 0;
    double worst_excess = 0;
    int bad = 0;
    for (size_t i = 0; i < count; i++) {
        double s = scale ? scale[i] : fabs(want[i]);
        double lim = atol + rtol * s, d = fabs((double)got[i] - want[i]);
        if (!(d <= lim) && (!bad || d - lim > worst_excess)) {
            bad = 1;
            worst = i;
            worst_excess = d - lim;
        }
    }
    if (bad)
        fail_msg("%s: element %zu is %.9g, expected %.9g", what, worst, (double)got[worst],
                 want[worst]);
}

/* zeroed, so a kernel that skips an element shows as a wrong value, not as
 * garbage; calloc checks the product (and gcc -O3 sees the bound) */
static float *fvec(size_t count) { return calloc(count ? count : 1, sizeof(float)); }
static double *dvec(size_t count) { return calloc(count ? count : 1, sizeof(double)); }

/* w [experts, rows, cols] packed as a product's matrix (fp32 panels); the
 * packed copy lives in a ring of 64 (freed when its slot is reused) */
static XfrtMat mat_pool[64];
static int mat_pool_n;
static const XfrtMat *mat_of(const float *w, int experts, int rows, int cols)
{
    XfrtMat *m = &mat_pool[mat_pool_n++ % 64];
    xfrt_mat_free(m);
    if (xfrt_mat_pack(m, w, experts, rows, cols, XFRT_WF_F32, xfrt_panel_width()) != 0)
        fail_msg("out of memory packing a matrix");
    return m;
}

/* A bf16 matrix packed from BF16 values as stored holds the same panels as
 * one packed from their fp32 widening (rows and columns that are not a
 * multiple of the panel width or the vector; an expert stack). */
static void test_mat_pack_bf16(void **state)
{
    (void)state;
    RtRng rng = {7};
    enum { E = 2, R = 37, C = 45 };
    float w[E * R * C];
    uint16_t h[E * R * C];
    rt_fill(&rng, w, E * R * C, -2, 2);
    for (int i = 0; i < E * R * C; i++) {
        h[i] = xfrt_bf16_round(w[i]);
        w[i] = xfrt_bf16_widen(h[i]);
    }
    for (int nr = 1; nr <= xfrt_panel_width(); nr += xfrt_panel_width() - 1) {
        XfrtMat a, b;
        assert_int_equal(xfrt_mat_pack(&a, w, E, R, C, XFRT_WF_BF16, nr), 0);
        assert_int_equal(xfrt_mat_pack_bf16(&b, h, E, R, C, nr), 0);
        assert_int_equal(a.matrix_bytes, b.matrix_bytes);
        assert_memory_equal(a.data, b.data, E * a.matrix_bytes);
        float row[C];
        xfrt_mat_row(&b, 5, row);
        assert_memory_equal(row, w + 5 * C, sizeof row);
        xfrt_mat_free(&a);
        xfrt_mat_free(&b);
    }
}

/* ---- dense ---------------------------------------------------------------- */

static void test_embed(void **state)
{
    (void)state;
    RtRng rng = {1};
    float table[7 * 5], y[4 * 5];
    rt_fill(&rng, table, 35, -1, 1);
    int32_t idx[4] = {3, 0, 6, 3};
    XfrtMat tm;
    assert_int_equal(xfrt_mat_pack(&tm, table, 1, 7, 5, XFRT_WF_F32, 1), 0);
    xfrt_embed(y, &tm, idx, 4, 5);
    for (int i = 0; i < 4; i++)
        assert_memory_equal(y + i * 5, table + idx[i] * 5, 5 * sizeof(float));
    y[0] = SENTINEL;
    xfrt_embed(y, &tm, idx, 0, 5);
    assert_true(y[0] == SENTINEL);
    /* a table in a product's panels (a tied lm_head) gives the same rows */
    const XfrtMat *pm = mat_of(table, 1, 7, 5);
    xfrt_embed(y, pm, idx, 4, 5);
    for (int i = 0; i < 4; i++)
        assert_memory_equal(y + i * 5, table + idx[i] * 5, 5 * sizeof(float));
}

static void test_add(void **state)
{
    (void)state;
    RtRng rng = {2};
    size_t sizes[] = {0, 1, 17, 40000};
    for (size_t s = 0; s < 4; s++) {
        size_t count = sizes[s];
        float *a = fvec(count), *b = fvec(count), *y = fvec(count);
        rt_fill(&rng, a, count, -1, 1);
        rt_fill(&rng, b, count, -1, 1);
        xfrt_add(y, a, b, count);
        for (size_t i = 0; i < count; i++)
            assert_true(y[i] == a[i] + b[i]);
        xfrt_add(a, a, b, count);   /* in place */
        assert_memory_equal(a, y, count * sizeof(float));
        free(a), free(b), free(y);
    }
    float x[3 * 17], bias[17], y[3 * 17];
    rt_fill(&rng, x, 51, -1, 1);
    rt_fill(&rng, bias, 17, -1, 1);
    xfrt_add_bias(y, x, bias, 3, 17);
    for (int i = 0; i < 51; i++)
        assert_true(y[i] == x[i] + bias[i % 17]);
    xfrt_add_bias(y, x, bias, 0, 17);
}

static void test_norms(void **state)
{
    (void)state;
    RtRng rng = {3};
    int dims[] = {1, 3, 17, 33, 256};
    for (int di = 0; di < 5; di++)
        for (int n = 0; n <= 5; n += 5) {
            int dim = dims[di];
            size_t count = (size_t)n * dim;
            float *x = fvec(count), *y = fvec(count), *w = fvec(dim), *b = fvec(dim);
            double *want = dvec(count);
            rt_fill(&rng, x, count, -3, 3);
            rt_fill(&rng, w, dim, 0.5f, 1.5f);
            rt_fill(&rng, b, dim, -1, 1);
            float eps = 1e-5f;
            for (int i = 0; i < n; i++) {
                double ss = 0;
                for (int d = 0; d < dim; d++)
                    ss += (double)x[i * dim + d] * x[i * dim + d];
                double inv = 1.0 / sqrt(ss / dim + eps);
                for (int d = 0; d < dim; d++)
                    want[i * dim + d] = x[i * dim + d] * inv * w[d];
            }
            xfrt_rmsnorm(y, x, w, n, dim, eps);
            check_close("rmsnorm", y, want, NULL, count, 1e-5, 1e-6);
            for (int i = 0; i < n; i++) {
                double mean = 0, var = 0;
                for (int d = 0; d < dim; d++)
                    mean += x[i * dim + d];
                mean /= dim;
                for (int d = 0; d < dim; d++)
                    var += (x[i * dim + d] - mean) * (x[i * dim + d] - mean);
                var /= dim;
                for (int d = 0; d < dim; d++)
                    want[i * dim + d] = (x[i * dim + d] - mean) / sqrt(var + eps) * w[d] + b[d];
            }
            xfrt_layernorm(y, x, w, b, n, dim, eps);
            check_close("layernorm", y, want, NULL, count, 1e-5, 1e-5);
            xfrt_layernorm(x, x, w, b, n, dim, eps);    /* in place */
            assert_memory_equal(x, y, count * sizeof(float));
            free(x), free(y), free(w), free(b), free(want);
        }
}

static void ref_linear(double *y, double *scale, const float *x, const float *W, int n, int in,
                       int out)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = 0, a = 0;
            for (int k = 0; k < in; k++) {
                s += (double)x[(size_t)i * in + k] * W[(size_t)o * in + k];
                a += fabs((double)x[(size_t)i * in + k] * W[(size_t)o * in + k]);
            }
            y[(size_t)i * out + o] = s;
            scale[(size_t)i * out + o] = a;
        }
}

static void test_linear(void **state)
{
    (void)state;
    RtRng rng = {4};
    int ns[] = {0, 1, 2, 3, 4, 5, 7, 13, 17, 67, 200};
    int ins[] = {1, 3, 8, 9, 17, 33, 100, 1000};
    int outs[] = {1, 2, 3, 5, 17, 33, 130};
    for (int a = 0; a < 11; a++)
        for (int b = 0; b < 8; b++)
            for (int c = 0; c < 7; c++) {
                int n = ns[a], in = ins[b], out = outs[c];
                if ((long)n * in * out > 4000000)
                    continue;
                float *x = fvec((size_t)n * in), *W = fvec((size_t)out * in);
                float *y = fvec((size_t)n * out + 1), *y1 = fvec((size_t)out + 1);
                double *want = dvec((size_t)n * out), *scale = dvec((size_t)n * out);
                rt_fill(&rng, x, (size_t)n * in, -1, 1);
                rt_fill(&rng, W, (size_t)out * in, -1, 1);
                y[(size_t)n * out] = SENTINEL;
                const XfrtMat *Wm = mat_of(W, 1, out, in);
                xfrt_linear(y, x, Wm, n, in, out);
                assert_true(y[(size_t)n * out] == SENTINEL);
                ref_linear(want, scale, x, W, n, in, out);
                char what[64];
                snprintf(what, sizeof what, "linear n=%d in=%d out=%d", n, in, out);
                check_close(what, y, want, scale, (size_t)n * out, 2e-6 * (in / 8 + 4), 1e-30);
                /* every row alone gives the same bits as in the batch */
                for (int i = 0; i < n; i += 1 + i / 4) {
                    y1[out] = SENTINEL;
                    xfrt_linear(y1, x + (size_t)i * in, Wm, 1, in, out);
                    assert_memory_equal(y1, y + (size_t)i * out, (size_t)out * sizeof(float));
                    assert_true(y1[out] == SENTINEL);
                }
                free(x), free(W), free(y), free(y1), free(want), free(scale);
            }
}

/* ---- the fused product: the same bits as the unfused kernels in sequence -- */

typedef struct {
    int cols, glu, bias, act, rope_hd, res;
} FusedSegCase;

static void fused_case(RtRng *rng, int n, int in, int norm, const FusedSegCase *sc, int n_seg)
{
    float *x = fvec((size_t)n * in), *nw = fvec((size_t)in), *nb = fvec((size_t)in);
    float *xn = fvec((size_t)n * in);
    int32_t *pos = malloc(((size_t)n + 1) * sizeof *pos);
    rt_fill(rng, x, (size_t)n * in, -2, 2);
    rt_fill(rng, nw, (size_t)in, 0.5f, 1.5f);
    rt_fill(rng, nb, (size_t)in, -0.5f, 0.5f);
    for (int i = 0; i < n; i++)
        pos[i] = 3 * i + rt_below(rng, 3);
    XfrtNorm nrm = {.kind = norm, .w = nw, .b = nb, .eps = 1e-5f};
    XfrtLinearOut out[XFRT_FUSED_MAX_OUT];
    float *want[XFRT_FUSED_MAX_OUT], *bufs[XFRT_FUSED_MAX_OUT][6];
    double *tabs[XFRT_FUSED_MAX_OUT] = {0};
    /* the unfused sequence: norm, linear(s), add_bias, act/glu, rope, add */
    const float *xin = x;
    if (norm == XFRT_NORM_RMS)
        xfrt_rmsnorm(xn, x, nw, n, in, 1e-5f), xin = xn;
    else if (norm == XFRT_NORM_LAYER)
        xfrt_layernorm(xn, x, nw, nb, n, in, 1e-5f), xin = xn;
    for (int s = 0; s < n_seg; s++) {
        int c = sc[s].cols;
        size_t nc = (size_t)n * c;
        float *W = fvec((size_t)c * in), *W2 = fvec((size_t)c * in), *b = fvec(c), *b2 = fvec(c);
        float *res = fvec(nc), *y = fvec(nc + 1), *t = fvec(nc), *t2 = fvec(nc);
        rt_fill(rng, W, (size_t)c * in, -1, 1);
        rt_fill(rng, W2, (size_t)c * in, -1, 1);
        rt_fill(rng, b, c, -1, 1);
        rt_fill(rng, b2, c, -1, 1);
        rt_fill(rng, res, nc, -3, 3);
        y[nc] = SENTINEL;
        bufs[s][0] = W, bufs[s][1] = W2, bufs[s][2] = b, bufs[s][3] = b2, bufs[s][4] = res, bufs[s][5] = y;
        xfrt_linear(t, xin, mat_of(W, 1, c, in), n, in, c);
        if (sc[s].bias)
            xfrt_add_bias(t, t, b, n, c);
        if (sc[s].glu) {
            xfrt_linear(t2, xin, mat_of(W2, 1, c, in), n, in, c);
            if (sc[s].bias)
                xfrt_add_bias(t2, t2, b2, n, c);
            xfrt_glu(t, t, t2, nc, sc[s].act);
        } else if (sc[s].act >= 0) {
            xfrt_act(t, t, nc, sc[s].act);
        }
        if (sc[s].rope_hd) {
            xfrt_rope(t2, t, pos, n, c / sc[s].rope_hd, sc[s].rope_hd, 10000.0, NULL, 0);
            memcpy(t, t2, nc * sizeof *t);
        }
        if (sc[s].res)
            xfrt_add(t, res, t, nc);
        want[s] = t;
        free(t2);
        /* the fused product reads RoPE from a table that misses the last
         * positions (computed instead): the same bits as the unfused */
        int tab_len = 3 * n - 2 > 0 ? 3 * n - 2 : 0;
        if (sc[s].rope_hd) {
            tabs[s] = dvec((size_t)tab_len * sc[s].rope_hd);
            xfrt_rope_table(tabs[s], tab_len, sc[s].rope_hd, 10000.0);
        }
        out[s] = (XfrtLinearOut){.y = y, .cols = c, .W = mat_of(W, 1, c, in),
                                 .W2 = sc[s].glu ? mat_of(W2, 1, c, in) : NULL,
                                 .bias = sc[s].bias ? b : NULL, .bias2 = sc[s].bias && sc[s].glu ? b2 : NULL,
                                 .act = sc[s].act, .rope_pos = sc[s].rope_hd ? pos : NULL,
                                 .rope_heads = sc[s].rope_hd ? c / sc[s].rope_hd : 0,
                                 .rope_head_dim = sc[s].rope_hd, .rope_base = 10000.0,
                                 .rope_cs = tabs[s], .rope_len = tab_len,
                                 .res = sc[s].res ? res : NULL};
    }
    xfrt_linear_fused(x, n, in, norm == XFRT_NORM_NONE ? NULL : &nrm, out, n_seg);
    for (int s = 0; s < n_seg; s++) {
        size_t nc = (size_t)n * sc[s].cols;
        if (memcmp(out[s].y, want[s], nc * sizeof(float)))
            fail_msg("linear_fused n=%d in=%d norm=%d segment %d of %d (cols %d glu %d act %d rope %d "
                     "res %d) differs from the unfused kernels", n, in, norm, s, n_seg, sc[s].cols,
                     sc[s].glu, sc[s].act, sc[s].rope_hd, sc[s].res);
        assert_true(out[s].y[nc] == SENTINEL);
        free(want[s]);
        for (int k = 0; k < 6; k++)
            free(bufs[s][k]);
        free(tabs[s]);
    }
    free(x), free(nw), free(nb), free(xn), free(pos);
}

static void test_linear_fused(void **state)
{
    (void)state;
    RtRng rng = {11};
    const FusedSegCase qkv[3] = {{24, 0, 0, -1, 8, 0}, {8, 0, 0, -1, 8, 0}, {8, 0, 0, -1, 0, 0}};
    const FusedSegCase glu[1] = {{37, 1, 1, XFRT_ACT_GELU, 0, 0}};
    const FusedSegCase swiglu[1] = {{130, 1, 0, XFRT_ACT_SILU, 0, 0}};
    const FusedSegCase bias_act_res[2] = {{33, 0, 1, XFRT_ACT_RELU, 0, 1}, {17, 0, 1, XFRT_ACT_GELU_TANH, 0, 0}};
    const FusedSegCase res_only[1] = {{200, 0, 0, -1, 0, 1}};
    const FusedSegCase four[4] = {{6, 0, 1, -1, 2, 0}, {1, 0, 0, XFRT_ACT_RELU2, 0, 0},
                                  {5, 1, 1, XFRT_ACT_SILU, 0, 1}, {64, 0, 0, -1, 16, 1}};
    int ns[] = {0, 1, 2, 5, 7, 13, 67, 130};
    int ins[] = {3, 8, 17, 64, 100};
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 5; b++) {
            int n = ns[a], in = ins[b];
            fused_case(&rng, n, in, XFRT_NORM_RMS, qkv, 3);
            fused_case(&rng, n, in, XFRT_NORM_LAYER, glu, 1);
            fused_case(&rng, n, in, XFRT_NORM_RMS, swiglu, 1);
            fused_case(&rng, n, in, XFRT_NORM_NONE, bias_act_res, 2);
            fused_case(&rng, n, in, XFRT_NORM_LAYER, res_only, 1);
            fused_case(&rng, n, in, XFRT_NORM_NONE, four, 4);
        }
    /* a norm input wider than one band's buffer holds several rows of */
    fused_case(&rng, 9, XFRT_NORM_BUF / 2 + 3, XFRT_NORM_RMS, qkv, 3);
}

static double ref_act(double x, int act)
{
    switch (act) {
    case XFRT_ACT_RELU: return x > 0 ? x : 0;
    case XFRT_ACT_RELU2: return x > 0 ? x * x : 0;
    case XFRT_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case XFRT_ACT_GELU_TANH:
        return 0.5 * x *
               (1 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    default: return x / (1 + exp(-x));
    }
}

static void test_act(void **state)
{
    (void)state;
    RtRng rng = {5};
    enum { N = 40007 };
    float *x = fvec(N), *g = fvec(N), *y = fvec(N);
    double *want = dvec(N), *scale = dvec(N);
    rt_fill(&rng, x, N, -8, 8);
    rt_fill(&rng, g, N, -2, 2);
    float special[] = {0.0f, -0.0f, 100.0f, -100.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, -200.0f};
    memcpy(x, special, sizeof special);
    for (int act = XFRT_ACT_RELU; act <= XFRT_ACT_SILU; act++) {
        for (int i = 0; i < N; i++) {
            want[i] = ref_act(x[i], act);
            scale[i] = fabs(want[i]) + fabs((double)x[i]) * 1e-2;
        }
        xfrt_act(y, x, N, act);
        check_close("act", y, want, scale, N, 2e-6, 1e-7);
        for (int i = 0; i < N; i++) {
            want[i] *= g[i];
            scale[i] *= fabs((double)g[i]);
        }
        xfrt_glu(y, x, g, N, act);
        check_close("glu", y, want, scale, N, 3e-6, 1e-7);
        xfrt_act(y, x, 0, act);
    }
    free(x), free(g), free(y), free(want), free(scale);
}

static void test_rope(void **state)
{
    (void)state;
    RtRng rng = {6};
    int hds[] = {2, 8, 64};
    double bases[] = {10000.0, 1e6};
    int32_t pos[5] = {0, 1, 17, 4000, 131071};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++) {
            int heads = 3, hd = hds[a], n = 5, width = heads * hd;
            float *x = fvec((size_t)n * width), *y = fvec((size_t)n * width);
            double *want = dvec((size_t)n * width);
            rt_fill(&rng, x, (size_t)n * width, -1, 1);
            for (int t = 0; t < n; t++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < hd / 2; i++) {
                        double th = pos[t] * pow(bases[b], -2.0 * i / hd);
                        size_t at = (size_t)t * width + h * hd + 2 * i;
                        want[at] = x[at] * cos(th) - x[at + 1] * sin(th);
                        want[at + 1] = x[at] * sin(th) + x[at + 1] * cos(th);
                    }
            xfrt_rope(y, x, pos, n, heads, hd, bases[b], NULL, 0);
            check_close("rope", y, want, NULL, (size_t)n * width, 0, 1e-6);
            /* from a table of the first 4001 positions (131071 is past it):
             * the same doubles, so the same bits */
            double *cs = dvec((size_t)4001 * hd);
            xfrt_rope_table(cs, 4001, hd, bases[b]);
            float *yt = fvec((size_t)n * width);
            xfrt_rope(yt, x, pos, n, heads, hd, bases[b], cs, 4001);
            assert_memory_equal(yt, y, (size_t)n * width * sizeof(float));
            xfrt_rope(x, x, pos, n, heads, hd, bases[b], cs, 4001);   /* in place */
            assert_memory_equal(x, y, (size_t)n * width * sizeof(float));
            xfrt_rope(y, x, pos, 0, heads, hd, bases[b], cs, 4001);
            free(x), free(y), free(yt), free(cs), free(want);
        }
}

/* ---- attention ------------------------------------------------------------- */

static void test_kv_append(void **state)
{
    (void)state;
    float kb[10 * 6], vb[10 * 6], k[3 * 6], v[3 * 6];
    int32_t pb[10], p[3] = {4, 9, 2};
    XfrtKV c = {kb, vb, pb, 0, 10, 6};
    for (int i = 0; i < 18; i++)
        k[i] = (float)i, v[i] = (float)-i;
    xfrt_kv_append(&c, k, v, p, 3);
    xfrt_kv_append(&c, k, v, p, 0);
    xfrt_kv_append(&c, k + 6, v + 6, p + 1, 2);
    assert_int_equal(c.len, 5);
    assert_memory_equal(kb, k, sizeof k);
    assert_memory_equal(kb + 18, k + 6, 12 * sizeof(float));
    assert_memory_equal(vb + 18, v + 6, 12 * sizeof(float));
    assert_int_equal(pb[3], 9);
    assert_int_equal(pb[4], 2);
}

static void ref_attention(double *y, const float *q, const XfrtKV *c, const int32_t *qpos, int n,
                          int heads, int kv_heads, int hd, int causal, int window)
{
    int group = heads / kv_heads;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++) {
            double *yr = y + (size_t)i * heads * hd + h * hd;
            const float *qr = q + (size_t)i * heads * hd + h * hd;
            int off = (h / group) * hd;
            double m = -INFINITY, l = 0;
            for (int d = 0; d < hd; d++)
                yr[d] = 0;
            for (int pass = 0; pass < 2; pass++)
                for (int j = 0; j < c->len; j++) {
                    int32_t kp = c->pos[j];
                    if ((causal && kp > qpos[i]) || (window > 0 && abs(qpos[i] - kp) >= window))
                        continue;
                    double s = 0;
                    for (int d = 0; d < hd; d++)
                        s += (double)qr[d] * c->k[(size_t)j * c->kv_dim + off + d];
                    s /= sqrt((double)hd);
                    if (pass == 0) {
                        m = s > m ? s : m;
                        continue;
                    }
                    double p = exp(s - m);
                    l += p;
                    for (int d = 0; d < hd; d++)
                        yr[d] += p * c->v[(size_t)j * c->kv_dim + off + d];
                }
            for (int d = 0; d < hd; d++)
                yr[d] = l > 0 ? yr[d] / l : 0;
        }
}

static void attention_case(RtRng *rng, int heads, int kv_heads, int hd, int len,
                           const int32_t *kpos, int n, const int32_t *qpos, int causal, int window,
                           float qscale)
{
    int kv_dim = kv_heads * hd, width = heads * hd;
    XfrtKV c = {fvec((size_t)len * kv_dim), fvec((size_t)len * kv_dim),
                malloc(sizeof(int32_t) * (len + 1)), 0, len, kv_dim};
    float *k = fvec((size_t)len * kv_dim), *v = fvec((size_t)len * kv_dim);
    float *q = fvec((size_t)n * width), *y = fvec((size_t)n * width + 1);
    double *want = dvec((size_t)n * width);
    rt_fill(rng, k, (size_t)len * kv_dim, -1, 1);
    rt_fill(rng, v, (size_t)len * kv_dim, -1, 1);
    rt_fill(rng, q, (size_t)n * width, -qscale, qscale);
    xfrt_kv_append(&c, k, v, kpos, len);
    y[(size_t)n * width] = SENTINEL;
    xfrt_attention(y, q, &c, qpos, n, heads, kv_heads, hd, causal, window);
    assert_true(y[(size_t)n * width] == SENTINEL);
    ref_attention(want, q, &c, qpos, n, heads, kv_heads, hd, causal, window);
    char what[128];
    snprintf(what, sizeof what, "attention h=%d kv=%d hd=%d len=%d n=%d causal=%d window=%d", heads,
             kv_heads, hd, len, n, causal, window);
    check_close(what, y, want, NULL, (size_t)n * width, 1e-5, 2e-6);
    for (size_t i = 0; i < (size_t)n * width; i++)
        assert_true(isfinite(y[i]));
    free(c.k), free(c.v), free(c.pos), free(k), free(v), free(q), free(y), free(want);
}

static void test_attention(void **state)
{
    (void)state;
    RtRng rng = {7};
    int32_t seq[40], mod[6] = {0, 2, 3, 7, 8, 12};
    for (int i = 0; i < 40; i++)
        seq[i] = i;
    int shapes[][3] = {{1, 1, 1}, {4, 2, 3}, {6, 2, 17}, {4, 1, 8}, {3, 3, 33}, {2, 2, 64}};
    for (int s = 0; s < 6; s++) {
        int h = shapes[s][0], kv = shapes[s][1], hd = shapes[s][2];
        for (int causal = 0; causal <= 1; causal++) {
            int windows[] = {0, 1, 3, 50};
            for (int w = 0; w < 4; w++) {
                attention_case(&rng, h, kv, hd, 7, seq, 7, seq, causal, windows[w], 1);
                attention_case(&rng, h, kv, hd, 37, seq, 37, seq, causal, windows[w], 3);
                /* decode: the cache holds 20 earlier tokens and the new one */
                attention_case(&rng, h, kv, hd, 21, seq, 1, seq + 20, causal, windows[w], 1);
                /* MoD: routed positions only */
                attention_case(&rng, h, kv, hd, 6, mod, 6, mod, causal, windows[w], 1);
            }
        }
        attention_case(&rng, h, kv, hd, 7, seq, 0, seq, 1, 0, 1);          /* n = 0 */
        attention_case(&rng, h, kv, hd, 9, seq, 9, seq, 1, 0, 40);         /* large scores */
    }
    /* GQA ratios up to a group wider than a block (40 heads on one KV head),
     * head_dim past the transposed-block limit, keys in no order (MoD caches
     * hold routed tokens; nothing requires order) */
    int32_t shuf[37];
    for (int i = 0; i < 37; i++)
        shuf[i] = (i * 17) % 37 * 2;
    int gqa[][3] = {{8, 2, 16}, {12, 3, 32}, {40, 1, 8}, {5, 5, 6}, {2, 1, 300}};
    for (int s = 0; s < 5; s++)
        for (int causal = 0; causal <= 1; causal++) {
            int h = gqa[s][0], kv = gqa[s][1], hd = gqa[s][2];
            attention_case(&rng, h, kv, hd, 37, seq, 37, seq, causal, 0, 1);
            attention_case(&rng, h, kv, hd, 37, seq, 33, seq + 4, causal, 9, 1);
            attention_case(&rng, h, kv, hd, 21, seq, 1, seq + 20, causal, 0, 1);
            attention_case(&rng, h, kv, hd, 37, shuf, 37, shuf, causal, 0, 1);
            attention_case(&rng, h, kv, hd, 37, shuf, 37, shuf, causal, 13, 1);
        }
    /* a long context: 2048 keys, causal, GQA 2; the last 200 queries of a
     * prefill (the naive reference is quadratic), a window, and decode */
    int32_t *lseq = malloc(2048 * sizeof(int32_t));
    for (int i = 0; i < 2048; i++)
        lseq[i] = i;
    attention_case(&rng, 4, 2, 64, 2048, lseq, 200, lseq + 1848, 1, 0, 1);
    attention_case(&rng, 4, 2, 64, 2048, lseq, 200, lseq + 1848, 1, 700, 1);
    attention_case(&rng, 4, 2, 64, 2048, lseq, 1, lseq + 2047, 1, 0, 1);
    free(lseq);

    /* a query vector's bits do not depend on which others share its block:
     * rows 5.. of a call equal the same rows in a call that starts there */
    {
        int h = 6, kv = 2, hd = 24, len = 45, width = h * hd, kv_dim = kv * hd;
        XfrtKV c2 = {fvec((size_t)len * kv_dim), fvec((size_t)len * kv_dim),
                     malloc(sizeof(int32_t) * len), 0, len, kv_dim};
        float *k = fvec((size_t)len * kv_dim), *v = fvec((size_t)len * kv_dim);
        float *qq = fvec((size_t)len * width), *ya = fvec((size_t)len * width);
        float *yb = fvec((size_t)len * width);
        rt_fill(&rng, k, (size_t)len * kv_dim, -1, 1);
        rt_fill(&rng, v, (size_t)len * kv_dim, -1, 1);
        rt_fill(&rng, qq, (size_t)len * width, -2, 2);
        int32_t p45[45];
        for (int i = 0; i < 45; i++)
            p45[i] = i;
        xfrt_kv_append(&c2, k, v, p45, len);
        for (int w = 0; w <= 7; w += 7) {
            xfrt_attention(ya, qq, &c2, p45, len, h, kv, hd, 1, w);
            xfrt_attention(yb, qq + 5 * width, &c2, p45 + 5, len - 5, h, kv, hd, 1, w);
            assert_memory_equal(ya + 5 * width, yb, (size_t)(len - 5) * width * sizeof(float));
        }
        free(c2.k), free(c2.v), free(c2.pos), free(k), free(v), free(qq), free(ya), free(yb);
    }

    /* a query that sees no key: zeros, not NaN */
    float kb[4], vb[4], q[2] = {1, 2}, y[2] = {SENTINEL, SENTINEL};
    int32_t pb[2] = {5, 6}, qp = 0;
    XfrtKV c = {kb, vb, pb, 0, 2, 2};
    float k[4] = {1, 2, 3, 4};
    xfrt_kv_append(&c, k, k, pb, 2);
    xfrt_attention(y, q, &c, &qp, 1, 1, 1, 2, 1, 0);
    assert_true(y[0] == 0.0f && y[1] == 0.0f);
    c.len = 0;
    xfrt_attention(y, q, &c, &qp, 1, 1, 1, 2, 0, 0);
    assert_true(y[0] == 0.0f && y[1] == 0.0f);
}

#include "rt_test_route.h"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mat_pack_bf16),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_linear_fused),
        cmocka_unit_test(test_act),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_kv_append),
        cmocka_unit_test(test_attention),
        RT_ROUTE_TESTS
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
