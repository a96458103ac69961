/* xf_bench.c - a timing driver for one xfc-generated model (used by
 * run_bench.py).  Links like examples/generate.c:
 *
 *   xfc model.xf -o out/NAME.c
 *   clang -O3 -march=native -fopenmp -DXF_MODEL=NAME -Iout \
 *         out/NAME.c bench/xf_bench.c -lm -o xf_bench
 *
 *   xf_bench check W.safetensors TOKENS.bin N PROMPT STEPS OUT.bin
 *       forward(tokens[0..N)) -> logits [N][VOCAB]; then forward(tokens[0..PROMPT))
 *       and STEPS decode steps feeding tokens[PROMPT + i] -> logits [STEPS][VOCAB];
 *       both written, in that order, as raw float32 to OUT.bin
 *   xf_bench time W.safetensors TOKENS.bin N PROMPT STEPS REPS
 *       prints one JSON object: wall seconds of each of REPS prefills
 *       (forward over N tokens) and of each of REPS decode runs (STEPS decode
 *       calls after an untimed forward over PROMPT tokens), after an untimed
 *       warm-up of each (one prefill; a prompt and up to 8 decode steps)
 *
 * TOKENS.bin is raw little-endian int32, at least max(N, PROMPT + STEPS) of
 * them.  Threads come from OMP_NUM_THREADS, as in every generated model. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "../examples/xf_model.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "xf_bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(1);
}

static int32_t *read_tokens(const char *path, int need)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open", path);
    int32_t *t = malloc((size_t)need * sizeof *t);
    if (!t)
        die("out of memory", NULL);
    if (fread(t, sizeof *t, (size_t)need, f) != (size_t)need)
        die("too few tokens in", path);
    fclose(f);
    return t;
}

static void check_rc(int rc, const char *what)
{
    if (rc != 0) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s returned %d", what, rc);
        die(buf, NULL);
    }
}

/* forward(tokens[0..prompt)), then `steps` decode calls; logits of each step
 * go to out + i*VOCAB (or all to the same row when out_stride is 0) */
static void run_decode(XF_MODEL *m, const int32_t *tok, int prompt, int steps, float *fwd_logits,
                       float *out, size_t out_stride)
{
    check_rc(XF_FN(_forward)(m, tok, prompt, fwd_logits), "forward");
    for (int i = 0; i < steps; i++)
        check_rc(XF_FN(_decode)(m, tok[prompt + i], out + (size_t)i * out_stride), "decode");
}

static void print_list(const char *key, const double *v, int n, int last)
{
    printf("  \"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf("%s%.9f", i ? ", " : "", v[i]);
    printf("]%s\n", last ? "" : ",");
}

int main(int argc, char **argv)
{
    if (argc < 8 || (strcmp(argv[1], "check") && strcmp(argv[1], "time")))
        die("usage: xf_bench check|time W.safetensors TOKENS.bin N PROMPT STEPS OUT.bin|REPS",
            NULL);
    int check = !strcmp(argv[1], "check");
    int n = atoi(argv[4]), prompt = atoi(argv[5]), steps = atoi(argv[6]);
    if (n < 1 || n > CONTEXT || prompt < 1 || steps < 0 || prompt + steps > CONTEXT)
        die("N, PROMPT + STEPS must lie in [1, CONTEXT]", NULL);
    int need = n > prompt + steps ? n : prompt + steps;
    int32_t *tok = read_tokens(argv[3], need);

    char err[512];
    XF_MODEL *m = XF_FN(_open)(argv[2], err, sizeof err);
    if (!m)
        die(err, NULL);
    float *logits = malloc((size_t)need * VOCAB * sizeof *logits);   /* forward over N or PROMPT */
    float *dec = malloc(((size_t)steps + 1) * VOCAB * sizeof *dec);
    if (!logits || !dec)
        die("out of memory", NULL);

    if (check) {
        check_rc(XF_FN(_forward)(m, tok, n, logits), "forward");
        FILE *f = fopen(argv[7], "wb");
        if (!f)
            die("cannot write", argv[7]);
        fwrite(logits, sizeof *logits, (size_t)n * VOCAB, f);
        run_decode(m, tok, prompt, steps, logits, dec, VOCAB);
        fwrite(dec, sizeof *dec, (size_t)steps * VOCAB, f);
        if (fclose(f))
            die("cannot write", argv[7]);
    } else {
        int reps = atoi(argv[7]);
        if (reps < 1)
            die("REPS must be at least 1", NULL);
        double *pre = malloc((size_t)reps * sizeof *pre), *d = malloc((size_t)reps * sizeof *d);
        if (!pre || !d)
            die("out of memory", NULL);
        check_rc(XF_FN(_forward)(m, tok, n, logits), "forward");        /* warm-up */
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            check_rc(XF_FN(_forward)(m, tok, n, logits), "forward");
            pre[r] = now_s() - t0;
        }
        run_decode(m, tok, prompt, steps < 8 ? steps : 8, logits, dec, 0);     /* warm-up */
        for (int r = 0; r < reps; r++) {
            check_rc(XF_FN(_forward)(m, tok, prompt, logits), "forward");
            double t0 = now_s();
            for (int i = 0; i < steps; i++)
                check_rc(XF_FN(_decode)(m, tok[prompt + i], dec), "decode");
            d[r] = now_s() - t0;
        }
        int threads = 1;
#ifdef _OPENMP
        threads = omp_get_max_threads();
#endif
        printf("{\n  \"threads\": %d,\n  \"n\": %d,\n  \"prompt\": %d,\n  \"steps\": %d,\n",
               threads, n, prompt, steps);
        print_list("prefill_s", pre, reps, 0);
        print_list("decode_s", d, reps, 1);
        printf("}\n");
        free(pre);
        free(d);
    }
    free(logits);
    free(dec);
    free(tok);
    XF_FN(_close)(m);
    return 0;
}
