/* gemm_bench.c - the runtime's matrix product alone: GFLOP/s of xfrt_linear
 * on the shapes of the bench models (prefill, n = 256) and GB/s of weights
 * streamed at decode (n = 1), per weight format.  The runtime sources are
 * compiled in, as generated code has them.
 *   clang -O3 -march=native -fopenmp bench/gemm_bench.c -I. -lm -o gemm_bench
 *   OMP_NUM_THREADS=1 ./gemm_bench [n in out ...]
 * Each figure is the best of several repetitions, in process CPU time (see now()). */
#define XFRT_API static inline __attribute__((unused))
#define XFRT_NO_ROUTE 1
#include "runtime/xfrt.h"
#include "runtime/xfrt_isa.h"
#include "runtime/xfrt_wfmt.h"
#include "runtime/xfrt_lanes.h"
#include "runtime/xfrt_gemm.h"
#include "runtime/safetensors.c"
#include "runtime/kernels_gemm.c"
#include "runtime/kernels_dense.c"
#include "runtime/kernels_attention.c"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CPU time of the process: on a shared machine, the time this process ran
 * (with one thread, the figure a quiet machine would give, less cache
 * interference); XF_WALL=1 measures wall-clock time instead. */
static double now(void)
{
    struct timespec ts;
    static int wall = -1;
    if (wall < 0)
        wall = getenv("XF_WALL") != NULL;
    clock_gettime(wall ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double run(float *y, const float *x, const XfrtMat *W, int n, int in, int out, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
#ifdef _OPENMP
#pragma omp parallel
#endif
        xfrt_linear(y, x, W, n, in, out);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

/* The FMA roof of one thread at this build's vector width: 24 independent
 * chains of XfrtV multiply-adds (GFLOP/s). */
static double fma_roof(void)
{
    XfrtV acc[24], b;
    float seed[XFRT_VW];
    for (int j = 0; j < XFRT_VW; j++)
        seed[j] = 1.0f + 1e-7f * j;
    XV_LOAD(b, seed);
    for (int i = 0; i < 24; i++)
        XV_ZERO(acc[i]);
    long iters = 20000000;
    double t0 = now();
    for (long it = 0; it < iters; it++) {
        XFRT_PRAGMA(GCC unroll 32)
        for (int i = 0; i < 24; i++)
            XV_FMAS(acc[i], 0.999999f, b);
    }
    double t = now() - t0;
    float sink = 0, out[XFRT_VW];
    for (int i = 0; i < 24; i++) {
        XV_STORE(out, acc[i]);
        sink += out[0];
    }
    if (sink == 12345.0f)
        printf("-");
    return 2.0 * XFRT_VW * 24 * iters / t * 1e-9;
}

int main(int argc, char **argv)
{
    int shapes[][3] = {{256, 512, 1536}, {256, 512, 512}, {256, 512, 2816}, {256, 1408, 512},
                       {1, 512, 1536}, {1, 512, 2816}, {1, 1408, 512}, {1, 4096, 4096}};
    int n_shapes = sizeof shapes / sizeof *shapes;
    if (argc > 3) {
        n_shapes = 1;
        shapes[0][0] = atoi(argv[1]), shapes[0][1] = atoi(argv[2]), shapes[0][2] = atoi(argv[3]);
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("ISA %s, panel %d, tile %d x %d, MC %d KC %d NC %d, %d thread(s)\n", XFRT_ISA_NAME, XFRT_NR,
           XFRT_MR, XFRT_NR, XFRT_MC, XFRT_KC, XFRT_NC, threads);
    printf("FMA roof, one thread, %d-wide: %.1f GFLOP/s\n", XFRT_VW, fma_roof());
    for (int s = 0; s < n_shapes; s++) {
        int n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = malloc((size_t)n * in * 4), *w = malloc((size_t)out * in * 4);
        float *y = malloc((size_t)n * out * 4);
        for (size_t i = 0; i < (size_t)n * in; i++)
            x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < (size_t)out * in; i++)
            w[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        for (int fmt = XFRT_WF_F32; fmt <= XFRT_WF_Q8; fmt++) {
            XfrtMat W;
            float *ws = NULL;   /* the products' workspace, as the generated open attaches it */
            if (xfrt_mat_pack(&W, w, 1, out, in, fmt, XFRT_NR) != 0 || xfrt_gemm_ws_attach(&W, 1, &ws) != 0)
                return 1;
            double flops = 2.0 * n * in * out;
            int reps = (int)(2e9 / flops) + 3;
            if (reps > 200)
                reps = 200;
            run(y, x, &W, n, in, out, 1);
            double t = run(y, x, &W, n, in, out, reps);
            double bytes = (double)xfrt_mat_bytes(fmt, 1, out, in, XFRT_NR);
            printf("n %4d in %5d out %5d %-4s: %8.1f us  %7.1f GFLOP/s  %7.1f GB/s of weights\n", n, in,
                   out, fmt == XFRT_WF_F32 ? "f32" : fmt == XFRT_WF_BF16 ? "bf16" : "q8", t * 1e6,
                   flops / t * 1e-9, bytes / t * 1e-9);
            xfrt_mat_free(&W);
            free(ws);
        }
        free(x), free(w), free(y);
    }
    return 0;
}
