/* two_models.c - one program, two xfc models: opens both, runs a forward
 * over a short prompt and a few decode steps on each, checks that every
 * logit is finite and that bad input gets its error code, and prints each
 * model's sizes.
 *
 *   two_models CHAT.safetensors ROUTER.safetensors */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "chat.h"
#include "router.h"

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

#define RUN(NAME, path)                                                                     \
    do {                                                                                    \
        char err[256];                                                                      \
        NAME *m = NAME##_open(path, err, sizeof err);                                       \
        if (!m) {                                                                           \
            fprintf(stderr, #NAME ": open failed: %s\n", err);                              \
            return 1;                                                                       \
        }                                                                                   \
        static float logits[4 * NAME##_VOCAB];                                              \
        const int32_t prompt[4] = {1, 2, 3, NAME##_VOCAB - 1};                              \
        int rc = NAME##_forward(m, prompt, 4, logits);                                      \
        int ok = rc == 0 && all_finite(logits, 4 * (size_t)NAME##_VOCAB);                   \
        for (int t = 0; ok && t < 3; t++)                                                   \
            ok = NAME##_decode(m, (int32_t)t, logits) == 0 &&                               \
                 all_finite(logits, NAME##_VOCAB);                                          \
        ok = ok && NAME##_decode(m, NAME##_VOCAB, logits) == NAME##_ERR_TOKEN;              \
        ok = ok && NAME##_forward(m, prompt, 0, logits) == NAME##_ERR_ARG;                  \
        printf(#NAME ": vocab %d dim %d context %d: %s\n", NAME##_VOCAB, NAME##_DIM,        \
               NAME##_CONTEXT, ok ? "ok" : "FAILED");                                       \
        NAME##_close(m);                                                                    \
        if (!ok)                                                                            \
            return 1;                                                                       \
    } while (0)

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CHAT.safetensors ROUTER.safetensors\n", argv[0]);
        return 2;
    }
    RUN(chat, argv[1]);
    RUN(router, argv[2]);
    return 0;
}
