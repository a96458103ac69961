/* generate.c - an app that links one xfc-generated model: loads weights, runs
 * a prompt through NAME_forward, then samples with NAME_decode (greedy,
 * temperature, top-p; seedable) and prints the tokens and tokens/s.
 *
 *   xfc examples/llama.xf -o out/llama.c
 *   clang -O3 -march=native -fopenmp -DXF_MODEL=llama -Iout \
 *         out/llama.c examples/generate.c -lm -o generate
 *   ./generate weights.safetensors --prompt 1,2,3 --steps 32 --temp 0.8 --top-p 0.9 --seed 7
 *
 * XF_MODEL names the model (the API prefix); its header is XF_MODEL.h. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xf_model.h"

#if XF_FN(_OUT) != VOCAB
#error "generate samples tokens from logits: it needs a model with head = lm (OUT = VOCAB)"
#endif

typedef struct {
    uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r)   /* splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_unit(Rng *r) { return (float)(rng_next(r) >> 40) / 16777216.0f; }

typedef struct {
    float p;
    int   i;
} ProbIndex;

static int by_prob_desc(const void *a, const void *b)
{
    const ProbIndex *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return x->i - y->i;
}

/* greedy when temp <= 0; else softmax(logits / temp), keep the smallest set of
 * most likely tokens whose mass reaches top_p, and sample from it */
static int sample(const float *logits, float temp, float top_p, Rng *rng, ProbIndex *scratch)
{
    int best = 0;
    for (int i = 1; i < VOCAB; i++)
        if (logits[i] > logits[best])
            best = i;
    if (temp <= 0)
        return best;
    double sum = 0;
    for (int i = 0; i < VOCAB; i++) {
        scratch[i].p = expf((logits[i] - logits[best]) / temp);
        scratch[i].i = i;
        sum += scratch[i].p;
    }
    for (int i = 0; i < VOCAB; i++)
        scratch[i].p = (float)(scratch[i].p / sum);
    int n = VOCAB;
    if (top_p > 0 && top_p < 1) {
        qsort(scratch, VOCAB, sizeof *scratch, by_prob_desc);
        double mass = 0;
        for (n = 0; n < VOCAB && mass < top_p; n++)
            mass += scratch[n].p;
    }
    double total = 0;
    for (int i = 0; i < n; i++)
        total += scratch[i].p;
    double u = rng_unit(rng) * total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += scratch[i].p;
        if (u < acc)
            return scratch[i].i;
    }
    return scratch[n - 1].i;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s WEIGHTS.safetensors [--prompt 1,2,3] [--steps N] [--temp T]\n"
            "          [--top-p P] [--seed S]\n"
            "model %s: vocab %d, context %d\n",
            argv0, XF_STR(XF_MODEL), VOCAB, CONTEXT);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return usage(argv[0]);
    const char *weights = argv[1], *prompt = "1,2,3,4";
    int steps = 16;
    float temp = 0.0f, top_p = 0.9f;
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc)
            return usage(argv[0]);
        if (!strcmp(argv[i], "--prompt"))
            prompt = argv[++i];
        else if (!strcmp(argv[i], "--steps"))
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--temp"))
            temp = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--top-p"))
            top_p = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[++i], NULL, 10);
        else
            return usage(argv[0]);
    }
    int32_t tokens[CONTEXT];
    int n = 0;
    for (const char *p = prompt; *p && n < CONTEXT;) {
        char *end;
        long t = strtol(p, &end, 10);
        if (end == p) {
            fprintf(stderr, "bad --prompt '%s': expected token ids like 1,2,3\n", prompt);
            return 2;
        }
        tokens[n++] = (int32_t)t;
        p = *end == ',' ? end + 1 : end;
    }
    char err[512];
    XF_MODEL *m = XF_FN(_open)(weights, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    float *logits = malloc(sizeof(float) * (size_t)VOCAB * CONTEXT);
    ProbIndex *scratch = malloc(sizeof(ProbIndex) * VOCAB);
    Rng rng = {seed};
    double t0 = now();
    int rc = XF_FN(_forward)(m, tokens, n, logits);
    double t1 = now();
    if (rc) {
        fprintf(stderr, "forward failed with code %d (tokens must be in [0, %d), 1..%d of them)\n",
                rc, VOCAB, CONTEXT);
        XF_FN(_close)(m);
        free(logits);
        free(scratch);
        return 1;
    }
    printf("prompt:");
    for (int i = 0; i < n; i++)
        printf(" %d", tokens[i]);
    printf("\ngenerated:");
    int next = sample(logits + (size_t)(n - 1) * VOCAB, temp, top_p, &rng, scratch), made = 0;
    double t2 = now();
    for (int s = 0; s < steps; s++) {
        printf(" %d", next);
        fflush(stdout);
        made++;
        if (s + 1 == steps)
            break;
        rc = XF_FN(_decode)(m, next, logits);
        if (rc) {
            printf("\n(decode stopped: code %d%s)", rc,
                   rc == XF_FN(_ERR_FULL) ? ", context full"
                   : rc == XF_FN(_ERR_NO_DECODE) ? ", bidirectional model" : "");
            break;
        }
        next = sample(logits, temp, top_p, &rng, scratch);
    }
    double t3 = now();
    printf("\nprefill: %d tokens in %.3f ms (%.1f tokens/s)\n", n, (t1 - t0) * 1e3,
           n / (t1 - t0 > 0 ? t1 - t0 : 1e-9));
    if (made > 1)
        printf("decode: %d tokens in %.3f ms (%.1f tokens/s)\n", made - 1, (t3 - t2) * 1e3,
               (made - 1) / (t3 - t2 > 0 ? t3 - t2 : 1e-9));
    XF_FN(_close)(m);
    free(logits);
    free(scratch);
    return 0;
}
