/* test_gemm_isa.c - the matrix products of one ISA path against a naive
 * double-precision product, for every weight format.  Built once per path
 * (tests/gemm/tests.cmake: plain C, AVX2+FMA, AVX-512) with the runtime
 * sources compiled in, as generated code has them; a path this CPU cannot
 * run is skipped.
 *
 * Checked, at odd sizes (n = 0, 1, 2, 3, 4, 5, 7, 13, 33, 100; in not a
 * multiple of the vector width or of the q8 block; out not a multiple of the
 * panel width):
 *   - every output within the worst-case bound of a chain of in fused
 *     multiply-adds: |y - y*| <= (in + 2) * 2^-24 * sum_k |x_k w'_k| + 1e-30,
 *     where y* is the double product with the stored values w' (for bf16 and
 *     q8 computed here by the SPEC's rules through xfrt_wfmt.h);
 *   - a row alone (the streaming kernel) has the bits it has in a batch (the
 *     GEMM kernel), so the sum order is the same in both;
 *   - 1, 2 and 3 OpenMP threads give the same bits, with and without the
 *     products' workspace (xfrt_gemm_ws_attach, as the generated open does);
 *   - the fused product (rmsnorm prologue, bias, GLU with W2, RoPE,
 *     residual) equals the unfused kernels in sequence, bit for bit;
 *   - the embedding gather reads w' from panels and from plain rows. */
#define XFRT_API static inline __attribute__((unused))
#include "runtime/xfrt.h"
#include "runtime/xfrt_isa.h"
#include "runtime/xfrt_wfmt.h"
#include "runtime/xfrt_lanes.h"
#include "runtime/xfrt_gemm.h"
#include "runtime/kernels_gemm.c"
#include "runtime/safetensors.c"
#include "runtime/kernels_dense.c"
#include "runtime/kernels_attention.c"
#include "runtime/kernels_route.c"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/rt_test.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (failures++ < 20) {                                                                 \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                               \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fputc('\n', stderr);                                                               \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static const char *fmt_name(int fmt)
{
    return fmt == XFRT_WF_BF16 ? "bf16" : fmt == XFRT_WF_Q8 ? "q8" : "f32";
}

/* w' of w [rows, cols] under fmt, by the SPEC's rules (row by row) */
static void stored_values(float *wq, const float *w, int rows, int cols, int fmt)
{
    memcpy(wq, w, (size_t)rows * cols * sizeof *wq);
    for (int r = 0; r < rows; r++) {
        float *row = wq + (size_t)r * cols;
        if (fmt == XFRT_WF_BF16) {
            for (int k = 0; k < cols; k++)
                row[k] = xfrt_bf16_widen(xfrt_bf16_round(row[k]));
        } else if (fmt == XFRT_WF_Q8) {
            int8_t q[XFRT_Q8_BLOCK];
            for (int k = 0; k < cols; k += XFRT_Q8_BLOCK) {
                int len = cols - k < XFRT_Q8_BLOCK ? cols - k : XFRT_Q8_BLOCK;
                float s = xfrt_q8_block(row + k, len, q);
                for (int t = 0; t < len; t++)
                    row[k + t] = (float)q[t] * s;
            }
        }
    }
}

static void run_threads(int threads, float *y, const float *x, const XfrtMat *W, int n, int in,
                        int out)
{
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    xfrt_linear(y, x, W, n, in, out);
#else
    (void)threads;
    xfrt_linear(y, x, W, n, in, out);
#endif
}

static void test_linear(RtRng *rng, int fmt)
{
    static const int ns[] = {0, 1, 2, 3, 4, 5, 7, 13, 33, 100};
    static const int ins[] = {1, 3, 17, 31, 32, 33, 100, 257, 600};
    static const int outs[] = {1, 2, 7, 33, 65, 130};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof ins / sizeof *ins; b++)
            for (size_t c = 0; c < sizeof outs / sizeof *outs; c++) {
                int n = ns[a], in = ins[b], out = outs[c];
                float *x = calloc((size_t)n * in + 1, 4), *w = calloc((size_t)out * in, 4);
                float *wq = calloc((size_t)out * in, 4), *y = calloc((size_t)n * out + 1, 4);
                float *y2 = calloc((size_t)n * out + 1, 4), *y1 = calloc((size_t)out + 1, 4);
                rt_fill(rng, x, (size_t)n * in, -1, 1);
                rt_fill(rng, w, (size_t)out * in, -1, 1);
                if (out > 1)    /* an all-zero q8 block: scale 0 */
                    for (int k = 0; k < in && k < XFRT_Q8_BLOCK; k++)
                        w[(size_t)1 * in + k] = 0.0f;
                stored_values(wq, w, out, in, fmt);
                XfrtMat W;
                CHECK(xfrt_mat_pack(&W, w, 1, out, in, fmt, XFRT_NR) == 0, "pack");
                y[(size_t)n * out] = 12345.0f;
                run_threads(1, y, x, &W, n, in, out);
                CHECK(y[(size_t)n * out] == 12345.0f, "wrote past y");
                for (int i = 0; i < n; i++)
                    for (int o = 0; o < out; o++) {
                        double s = 0, sa = 0;
                        for (int k = 0; k < in; k++) {
                            double t = (double)x[(size_t)i * in + k] * wq[(size_t)o * in + k];
                            s += t;
                            sa += fabs(t);
                        }
                        double got = y[(size_t)i * out + o];
                        CHECK(fabs(got - s) <= (in + 2) * 0x1p-24 * sa + 1e-30,
                              "%s linear n=%d in=%d out=%d y[%d,%d] = %.9g, want %.9g", fmt_name(fmt),
                              n, in, out, i, o, got, s);
                    }
                for (int t = 2; t <= 3; t++) {
                    run_threads(t, y2, x, &W, n, in, out);
                    CHECK(!memcmp(y, y2, (size_t)n * out * 4), "%s linear n=%d in=%d out=%d: %d threads differ",
                          fmt_name(fmt), n, in, out, t);
                }
                /* with the workspace open attaches (row blocks of XFRT_MC; on a
                 * machine of fewer than 3 cores the third thread has no slice
                 * and uses the stack's): the same bits */
                XfrtMat Ww = W;
                float *ws = NULL;
                CHECK(xfrt_gemm_ws_attach(&Ww, 1, &ws) == 0 && Ww.ws == ws, "workspace");
                for (int t = 1; t <= 3; t++) {
                    run_threads(t, y2, x, &Ww, n, in, out);
                    CHECK(!memcmp(y, y2, (size_t)n * out * 4),
                          "%s linear n=%d in=%d out=%d: %d threads with the workspace differ",
                          fmt_name(fmt), n, in, out, t);
                }
                free(ws);
                for (int i = 0; i < n; i += 1 + i / 3) {
                    y1[out] = 12345.0f;
                    xfrt_linear(y1, x + (size_t)i * in, &W, 1, in, out);
                    CHECK(!memcmp(y1, y + (size_t)i * out, (size_t)out * 4) && y1[out] == 12345.0f,
                          "%s linear n=%d in=%d out=%d: row %d alone differs", fmt_name(fmt), n, in, out, i);
                }
                /* the rows the embedding gather reads are w' */
                float *row = calloc((size_t)in, 4);
                for (int o = 0; o < out; o++) {
                    xfrt_mat_row(&W, o, row);
                    CHECK(!memcmp(row, wq + (size_t)o * in, (size_t)in * 4), "%s row %d of [%d, %d]",
                          fmt_name(fmt), o, out, in);
                }
                free(row);
                XfrtMat T;
                CHECK(xfrt_mat_pack(&T, w, 1, out, in, fmt, 1) == 0, "pack rows");
                int32_t idx[3] = {out - 1, 0, out / 2};
                float *e = calloc((size_t)3 * in, 4);
                xfrt_embed(e, &T, idx, 3, in);
                for (int i = 0; i < 3; i++)
                    CHECK(!memcmp(e + (size_t)i * in, wq + (size_t)idx[i] * in, (size_t)in * 4),
                          "%s embed row %d of [%d, %d]", fmt_name(fmt), idx[i], out, in);
                free(e);
                xfrt_mat_free(&T);
                xfrt_mat_free(&W);
                free(x), free(w), free(wq), free(y), free(y2), free(y1);
            }
}

/* rmsnorm -> [W | W2] GLU(silu) + bias, RoPE on one, residual on the other */
static void test_fused(RtRng *rng, int fmt)
{
    static const int ns[] = {1, 3, 5, 13, 100};
    static const int ins[] = {17, 64, 300};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof ins / sizeof *ins; b++) {
            int n = ns[a], in = ins[b], c1 = 70, c2 = 48, hd = 16;
            float *x = calloc((size_t)n * in, 4), *nw = calloc(in, 4), *xn = calloc((size_t)n * in, 4);
            float *w1 = calloc((size_t)c1 * in, 4), *w3 = calloc((size_t)c1 * in, 4);
            float *w2 = calloc((size_t)c2 * in, 4), *b1 = calloc(c1, 4), *b3 = calloc(c1, 4);
            float *res = calloc((size_t)n * c1, 4);
            float *t1 = calloc((size_t)n * c1, 4), *t3 = calloc((size_t)n * c1, 4);
            float *t2 = calloc((size_t)n * c2, 4), *t2r = calloc((size_t)n * c2, 4);
            float *y1 = calloc((size_t)n * c1, 4), *y2 = calloc((size_t)n * c2, 4);
            int32_t *pos = calloc(n, 4);
            rt_fill(rng, x, (size_t)n * in, -2, 2);
            rt_fill(rng, nw, in, 0.5f, 1.5f);
            rt_fill(rng, w1, (size_t)c1 * in, -1, 1);
            rt_fill(rng, w3, (size_t)c1 * in, -1, 1);
            rt_fill(rng, w2, (size_t)c2 * in, -1, 1);
            rt_fill(rng, b1, c1, -1, 1);
            rt_fill(rng, b3, c1, -1, 1);
            rt_fill(rng, res, (size_t)n * c1, -3, 3);
            for (int i = 0; i < n; i++)
                pos[i] = 5 * i + 1;
            XfrtMat W1, W3, W2;
            CHECK(xfrt_mat_pack(&W1, w1, 1, c1, in, fmt, XFRT_NR) == 0, "pack");
            CHECK(xfrt_mat_pack(&W3, w3, 1, c1, in, fmt, XFRT_NR) == 0, "pack");
            CHECK(xfrt_mat_pack(&W2, w2, 1, c2, in, fmt, XFRT_NR) == 0, "pack");
            xfrt_rmsnorm(xn, x, nw, n, in, 1e-5f);
            xfrt_linear(t1, xn, &W1, n, in, c1);
            xfrt_add_bias(t1, t1, b1, n, c1);
            xfrt_linear(t3, xn, &W3, n, in, c1);
            xfrt_add_bias(t3, t3, b3, n, c1);
            xfrt_glu(t1, t1, t3, (size_t)n * c1, XFRT_ACT_SILU);
            xfrt_add(t1, res, t1, (size_t)n * c1);
            xfrt_linear(t2, xn, &W2, n, in, c2);
            xfrt_rope(t2r, t2, pos, n, c2 / hd, hd, 10000.0, NULL, 0);
            XfrtNorm norm = {.kind = XFRT_NORM_RMS, .w = nw, .eps = 1e-5f};
            XfrtLinearOut o[2] = {
                {.y = y1, .cols = c1, .W = &W1, .W2 = &W3, .bias = b1, .bias2 = b3, .act = XFRT_ACT_SILU,
                 .res = res},
                {.y = y2, .cols = c2, .W = &W2, .act = -1, .rope_pos = pos, .rope_heads = c2 / hd,
                 .rope_head_dim = hd, .rope_base = 10000.0},
            };
            for (int t = 1; t <= 3; t++) {
                memset(y1, 0, (size_t)n * c1 * 4);
                memset(y2, 0, (size_t)n * c2 * 4);
#ifdef _OPENMP
#pragma omp parallel num_threads(t)
#endif
                xfrt_linear_fused(x, n, in, &norm, o, 2);
                CHECK(!memcmp(y1, t1, (size_t)n * c1 * 4), "%s fused GLU n=%d in=%d threads=%d differs",
                      fmt_name(fmt), n, in, t);
                CHECK(!memcmp(y2, t2r, (size_t)n * c2 * 4), "%s fused RoPE n=%d in=%d threads=%d differs",
                      fmt_name(fmt), n, in, t);
            }
            xfrt_mat_free(&W1), xfrt_mat_free(&W3), xfrt_mat_free(&W2);
            free(x), free(nw), free(xn), free(w1), free(w3), free(w2), free(b1), free(b3), free(res);
            free(t1), free(t3), free(t2), free(t2r), free(y1), free(y2), free(pos);
        }
}

int main(void)
{
#if XFRT_ISA_AVX512
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl")) {
        printf("skip: this CPU has no AVX-512\n");
        return 77;
    }
#elif XFRT_ISA_AVX2
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("skip: this CPU has no AVX2+FMA\n");
        return 77;
    }
#endif
    RtRng rng = {9};
    for (int fmt = XFRT_WF_F32; fmt <= XFRT_WF_Q8; fmt++) {
        test_linear(&rng, fmt);
        test_fused(&rng, fmt);
    }
    printf("%s (panel %d, tile %d x %d): %s\n", XFRT_ISA_NAME, XFRT_NR, XFRT_MR, XFRT_NR,
           failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
