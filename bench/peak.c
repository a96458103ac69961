/* peak.c - the machine's two roofs for run_bench.py: fp32 FMA throughput
 * (8-float vectors, 12 independent accumulators per thread: FMA throughput,
 * not latency) and streaming read bandwidth (a sum over 512 MiB, far larger
 * than any cache), each the best of 5, on OMP_NUM_THREADS threads.
 *
 *   clang -O3 -march=native -fopenmp bench/peak.c -o peak && ./peak
 *
 * Prints one JSON object: {"threads": T, "fma_gflop_s": G, "read_gb_s": B}. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef float V8 __attribute__((vector_size(32)));

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 12 chains of acc = acc * m + a; 2 * 8 * 12 flops per iteration */
static float fma_loop(long iters, float seed)
{
    V8 acc[12], m, a;
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 8; j++)
            acc[i][j] = seed + (float)(i * 8 + j);
    for (int j = 0; j < 8; j++) {
        m[j] = 0.999999f;
        a[j] = 1e-7f;
    }
    for (long it = 0; it < iters; it++) {
        __asm__ volatile("" : "+x"(m));     /* keep the loop: m is opaque each time */
        for (int i = 0; i < 12; i++)
            acc[i] = acc[i] * m + a;
    }
    float s = 0;
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 8; j++)
            s += acc[i][j];
    return s;
}

int main(void)
{
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    const long iters = 20000000;
    double best_fma = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        float s = 0;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : s)
#endif
        s += fma_loop(iters, (float)r);
        double t = now_s() - t0;
        sink += s;
        if (t < best_fma)
            best_fma = t;
    }

    size_t n = (size_t)512 << 20 >> 2;     /* 512 MiB of floats */
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
    printf("{\"threads\": %d, \"fma_gflop_s\": %.2f, \"read_gb_s\": %.2f}\n", threads,
           2.0 * 8 * 12 * (double)iters * threads / best_fma / 1e9,
           (double)n * sizeof(float) / best_bw / 1e9);
    return sink == 12345.0f;     /* never: keeps the sums alive */
}
