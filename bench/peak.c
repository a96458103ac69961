/* peak.c - the machine's two roofs for run_bench.py: fp32 FMA throughput
 * (12 independent accumulators per thread: FMA throughput, not latency) at
 * the widest vector width this CPU runs, and streaming read bandwidth (a sum
 * over a buffer well past the last-level cache), each the best of 5, on
 * OMP_NUM_THREADS threads.
 *
 *   clang -O3 -march=native -fopenmp bench/peak.c -o peak && ./peak [MIB]
 *
 * MIB: the read buffer in MiB (default 512; run_bench.py passes 8x the LLC,
 * at least 512).  The FMA loop runs with 8-float vectors and, on x86-64 when
 * the CPU reports AVX-512F (__builtin_cpu_supports, at run time), again with
 * 16-float vectors; the faster counts.  Prints one JSON object:
 * {"threads": T, "fma_gflop_s": G, "fma_lanes": 8|16, "fma8_gflop_s": G8,
 *  "read_gb_s": B, "read_mib": MIB}. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef float V8 __attribute__((vector_size(32)));
typedef float V16 __attribute__((vector_size(64)));

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 12 chains of acc = acc * m + a; 2 * LANES * 12 flops per iteration */
#define FMA_LOOP(NAME, V, LANES, ATTR)                                            \
    ATTR static float NAME(long iters, float seed)                                \
    {                                                                             \
        V acc[12], m, a;                                                          \
        for (int i = 0; i < 12; i++)                                              \
            for (int j = 0; j < LANES; j++)                                       \
                acc[i][j] = seed + (float)(i * LANES + j);                        \
        for (int j = 0; j < LANES; j++) {                                         \
            m[j] = 0.999999f;                                                     \
            a[j] = 1e-7f;                                                         \
        }                                                                         \
        for (long it = 0; it < iters; it++) {                                     \
            __asm__ volatile("" : "+x"(m)); /* keep the loop: m opaque each time */ \
            for (int i = 0; i < 12; i++)                                          \
                acc[i] = acc[i] * m + a;                                          \
        }                                                                         \
        float s = 0;                                                              \
        for (int i = 0; i < 12; i++)                                              \
            for (int j = 0; j < LANES; j++)                                       \
                s += acc[i][j];                                                   \
        return s;                                                                 \
    }

FMA_LOOP(fma_loop8, V8, 8, )
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define HAVE_FMA16 1
FMA_LOOP(fma_loop16, V16, 16, __attribute__((target("avx512f"))))
#endif

/* best wall time of 5 runs of loop(iters) on every thread */
static double time_fma(float (*loop)(long, float), long iters, volatile float *sink)
{
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        float s = 0;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : s)
#endif
        s += loop(iters, (float)r);
        double t = now_s() - t0;
        *sink += s;
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    long mib = argc > 1 ? atol(argv[1]) : 512;
    if (mib < 1 || mib > (1L << 20)) {
        fprintf(stderr, "peak: MIB must lie in [1, 1048576]\n");
        return 1;
    }
    const long iters = 20000000;
    volatile float sink = 0;
    double flops8 = 2.0 * 8 * 12 * (double)iters * threads;
    double g8 = flops8 / time_fma(fma_loop8, iters, &sink) / 1e9, g16 = 0;
#ifdef HAVE_FMA16
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        g16 = 2 * flops8 / time_fma(fma_loop16, iters, &sink) / 1e9;
#endif

    size_t n = (size_t)mib << 20 >> 2;     /* MIB MiB of floats */
    float *buf = malloc(n * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "peak: out of memory\n");
        return 1;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (size_t i = 0; i < n; i++)          /* first touch by the thread that reads it */
        buf[i] = (float)(i & 1023) * 1e-3f;
    double best_bw = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        float s = 0;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : s)
#endif
        {
            V8 acc[4] = {{0}}, v;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (size_t b = 0; b < n / 32; b++)
                for (int i = 0; i < 4; i++) {
                    memcpy(&v, buf + b * 32 + i * 8, sizeof v);
                    acc[i] += v;
                }
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 8; j++)
                    s += acc[i][j];
        }
        double t = now_s() - t0;
        sink += s;
        if (t < best_bw)
            best_bw = t;
    }
    free(buf);
    printf("{\"threads\": %d, \"fma_gflop_s\": %.2f, \"fma_lanes\": %d, \"fma8_gflop_s\": %.2f, "
           "\"read_gb_s\": %.2f, \"read_mib\": %ld}\n", threads, g16 > g8 ? g16 : g8,
           g16 > g8 ? 16 : 8, g8, (double)n * sizeof(float) / best_bw / 1e9, mib);
    return sink == 12345.0f;     /* never: keeps the sums alive */
}
