/* attn_bench.c - attention's FLOP rate at a long context, next to a GEMM's
 * (xfrt_linear at the bench llama's FFN shape) and the FMA roof at the
 * build's vector width, in the same run and on the same threads.
 *
 *   clang -O3 -march=native -fopenmp -I. bench/attn_bench.c -o attn_bench -lm
 *   OMP_NUM_THREADS=1 ./attn_bench [--context 2048] [--heads 8] [--kv-heads 4]
 *                                  [--head-dim 64] [--reps 5] [--only K]
 *   (--only 0..3: just attention prefill, decode, the GEMM or the roof, e.g.
 *   under valgrind --tool=callgrind, which counts instructions exactly)
 *
 * Attention flops: 4 * head_dim per (query head, visible key): q.k and p v,
 * the convention of issue 9; a causal prefill of n tokens sees n (n + 1) / 2
 * keys per head.  Each figure is the best of --reps runs, every kernel called
 * inside one OpenMP parallel region as generated code calls it.  The first
 * line names the machine from the machine itself. */
#define _POSIX_C_SOURCE 200809L
#define XFRT_API static inline __attribute__((unused))
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/xfrt.h"
#include "runtime/xfrt_isa.h"
#include "runtime/xfrt_vmath.h"
#include "runtime/kernels_gemm.c"
#include "runtime/kernels_dense.c"
#include "runtime/kernels_attention.c"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *x, size_t count, unsigned seed)
{
    unsigned long long s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < count; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1u << 24)) * 2.0f - 1.0f;
    }
}

/* "model name" of /proc/cpuinfo, the last-level cache of cpu0 */
static void machine(char *cpu, size_t cpu_size, char *llc, size_t llc_size)
{
    snprintf(cpu, cpu_size, "unknown CPU");
    snprintf(llc, llc_size, "?");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(cpu, cpu_size, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    for (int i = 9; i >= 0; i--) {
        char path[128];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if ((f = fopen(path, "r"))) {
            if (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                snprintf(llc, llc_size, "%s", line);
            }
            fclose(f);
            break;
        }
    }
}

enum { K_PREFILL, K_DECODE, K_GEMM, K_ROOF };

typedef struct {
    int ctx, heads, kv_heads, hd, gemm_n, gemm_in, gemm_out;
    float *q, *y, *x, *W, *yl;
    XfrtMat Wp;     /* W packed as generated code packs a product's matrix */
    XfrtKV kv;
    int32_t *pos;
    float roof_sink;
} Bench;

/* FMA throughput: 12 independent chains of vector FMAs per thread */
static float roof_loop(long iters, float seed)
{
    XfrtV acc[12], m = xfrt_v_set1(0.999999f), a = xfrt_v_set1(1e-7f);
    for (int i = 0; i < 12; i++)
        acc[i] = xfrt_v_set1(seed + (float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++)
            acc[i] = xfrt_v_fma(acc[i], m, a);
    float out[XFRT_VW], s = 0;
    for (int i = 0; i < 12; i++) {
        xfrt_v_store(out, acc[i]);
        s += out[0];
    }
    return s;
}

static double run(Bench *b, int kind, double *flops)
{
    double t0 = now_s();
    long roof_iters = 20000000;
    float sink = 0;
    XFRT_PARALLEL_REGION
    {
        switch (kind) {
        case K_PREFILL:
            xfrt_attention(b->y, b->q, &b->kv, b->pos, b->ctx, b->heads, b->kv_heads, b->hd, 1, 0);
            break;
        case K_DECODE:
            xfrt_attention(b->y, b->q, &b->kv, b->pos + b->ctx - 1, 1, b->heads, b->kv_heads, b->hd, 1, 0);
            break;
        case K_GEMM:
            xfrt_linear(b->yl, b->x, &b->Wp, b->gemm_n, b->gemm_in, b->gemm_out);
            break;
        default: {
            float s = roof_loop(roof_iters, 1.0f);
#ifdef _OPENMP
#pragma omp atomic
#endif
            sink += s;
        }
        }
    }
    double t = now_s() - t0;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    b->roof_sink += sink;
    double hd = b->hd, H = b->heads, n = b->ctx;
    switch (kind) {
    case K_PREFILL: *flops = 4.0 * hd * H * n * (n + 1) / 2; break;
    case K_DECODE: *flops = 4.0 * hd * H * n; break;
    case K_GEMM: *flops = 2.0 * b->gemm_n * b->gemm_in * b->gemm_out; break;
    default: *flops = 2.0 * XFRT_VW * 12 * (double)roof_iters * nt;
    }
    return t;
}

int main(int argc, char **argv)
{
    Bench b = {.ctx = 2048, .heads = 8, .kv_heads = 4, .hd = 64, .gemm_n = 256, .gemm_in = 512,
               .gemm_out = 1376};
    int reps = 5, only = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--context")) b.ctx = v;
        else if (!strcmp(argv[i], "--heads")) b.heads = v;
        else if (!strcmp(argv[i], "--kv-heads")) b.kv_heads = v;
        else if (!strcmp(argv[i], "--head-dim")) b.hd = v;
        else if (!strcmp(argv[i], "--reps")) reps = v;
        else if (!strcmp(argv[i], "--only")) only = v;
        else {
            fprintf(stderr, "attn_bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (b.ctx < 1 || b.heads < 1 || b.kv_heads < 1 || b.hd < 1 || reps < 1 || b.heads % b.kv_heads) {
        fprintf(stderr, "attn_bench: bad sizes\n");
        return 2;
    }
    size_t width = (size_t)b.heads * b.hd, kv_dim = (size_t)b.kv_heads * b.hd;
    b.q = malloc(sizeof(float) * b.ctx * width);
    b.y = malloc(sizeof(float) * b.ctx * width);
    float *k = malloc(sizeof(float) * b.ctx * kv_dim), *v = malloc(sizeof(float) * b.ctx * kv_dim);
    b.kv = (XfrtKV){malloc(sizeof(float) * b.ctx * kv_dim), malloc(sizeof(float) * b.ctx * kv_dim),
                    malloc(sizeof(int32_t) * b.ctx), 0, b.ctx, (int)kv_dim};
    b.pos = malloc(sizeof(int32_t) * b.ctx);
    b.x = malloc(sizeof(float) * b.gemm_n * b.gemm_in);
    b.W = malloc(sizeof(float) * b.gemm_out * b.gemm_in);
    b.yl = malloc(sizeof(float) * b.gemm_n * b.gemm_out);
    if (!b.q || !b.y || !k || !v || !b.kv.k || !b.kv.v || !b.kv.pos || !b.pos || !b.x || !b.W || !b.yl) {
        fprintf(stderr, "attn_bench: out of memory\n");
        return 1;
    }
    fill(b.q, b.ctx * width, 1);
    fill(k, b.ctx * kv_dim, 2);
    fill(v, b.ctx * kv_dim, 3);
    fill(b.x, (size_t)b.gemm_n * b.gemm_in, 4);
    fill(b.W, (size_t)b.gemm_out * b.gemm_in, 5);
    float *ws = NULL;   /* the products' workspace, as the generated open attaches it */
    if (xfrt_mat_pack(&b.Wp, b.W, 1, b.gemm_out, b.gemm_in, XFRT_WF_F32, xfrt_panel_width()) != 0 ||
        xfrt_gemm_ws_attach(&b.Wp, 1, &ws) != 0) {
        fprintf(stderr, "attn_bench: out of memory\n");
        return 1;
    }
    for (int i = 0; i < b.ctx; i++)
        b.pos[i] = i;
    xfrt_kv_append(&b.kv, k, v, b.pos, b.ctx);

    char cpu[256], llc[64];
    machine(cpu, sizeof cpu, llc, sizeof llc);
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    printf("machine: %s, %s build (%d-float vectors), LLC %s, %d thread%s\n", cpu, XFRT_ISA_NAME,
           XFRT_VW, llc, nt, nt == 1 ? "" : "s");
    static const char *what[] = {"attention prefill", "attention decode", "gemm (xfrt_linear)",
                                 "fma roof"};
    double rate[4] = {0};
    for (int kind = K_PREFILL; kind <= K_ROOF; kind++) {
        if (only >= 0 && kind != only)
            continue;
        double best = 1e30, flops = 0;
        for (int r = 0; r < reps; r++) {
            double t = run(&b, kind, &flops);
            best = t < best ? t : best;
        }
        rate[kind] = flops / best * 1e-9;
        if (kind == K_PREFILL)
            printf("%-20s ctx %d, heads %d, kv_heads %d, head_dim %d, causal: %8.3f ms %7.2f GFLOP/s\n",
                   what[kind], b.ctx, b.heads, b.kv_heads, b.hd, best * 1e3, rate[kind]);
        else if (kind == K_DECODE)
            printf("%-20s 1 query over %d keys:                     %8.3f ms %7.2f GFLOP/s\n",
                   what[kind], b.ctx, best * 1e3, rate[kind]);
        else if (kind == K_GEMM)
            printf("%-20s [%d x %d] x [%d x %d]^T:              %8.3f ms %7.2f GFLOP/s\n", what[kind],
                   b.gemm_n, b.gemm_in, b.gemm_out, b.gemm_in, best * 1e3, rate[kind]);
        else
            printf("%-20s %d-float FMAs, 12 chains per thread:       %8.3f ms %7.2f GFLOP/s\n",
                   what[kind], XFRT_VW, best * 1e3, rate[kind]);
    }
    if (only < 0)
        printf("attention prefill / gemm: %.2f;  / fma roof: %.2f;  gemm / fma roof: %.2f\n",
           rate[K_PREFILL] / rate[K_GEMM], rate[K_PREFILL] / rate[K_ROOF], rate[K_GEMM] / rate[K_ROOF]);
    if (b.roof_sink == 12345.0f)     /* keeps the roof loop's result alive */
        printf(" \n");
    free(ws);
    return 0;
}
