/* xf_llama.c - the llama.cpp peer's timing and logits driver (used by
 * run_bench.py; built by bench/setup.sh against the libllama it builds).
 * Same commands and output as xf_bench.c, so both sides do the same work:
 *
 *   xf_llama check MODEL.gguf TOKENS.bin N PROMPT STEPS OUT.bin
 *       prefill of tokens[0..N) with the logits of every position; then a
 *       fresh prefill of tokens[0..PROMPT) and STEPS one-token decodes
 *       feeding tokens[PROMPT + i]; the N + STEPS logit rows go to OUT.bin as
 *       raw float32
 *   xf_llama time MODEL.gguf TOKENS.bin N PROMPT STEPS REPS
 *       one JSON object: wall seconds of REPS prefills (N tokens, all logits)
 *       and of REPS decode runs (STEPS one-token llama_decode calls after an
 *       untimed PROMPT-token prefill), after an untimed warm-up of each
 *
 * The context: n_ctx = n_batch = n_ubatch = the model's context (a prefill is
 * one batch), F32 K and V caches, flash attention off, n_threads and
 * n_threads_batch = $XF_THREADS (default 1).  The KV cache is cleared before
 * each prefill.  Timing is clock_gettime(CLOCK_MONOTONIC) around llama_decode
 * (which returns after the CPU backend has computed the logits). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llama.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "xf_llama: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(1);
}

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level == GGML_LOG_LEVEL_ERROR)
        fputs(text, stderr);
}

static struct llama_context *ctx;
static llama_batch batch;
static int vocab_n;

/* the KV cache cleared, then tokens[0..n) at positions 0..n-1; all logits if `all` */
static void prefill(const llama_token *tok, int n, int all)
{
    llama_memory_clear(llama_get_memory(ctx), true);
    batch.n_tokens = n;
    for (int i = 0; i < n; i++) {
        batch.token[i] = tok[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = all || i == n - 1;
    }
    if (llama_decode(ctx, batch) != 0)
        die("llama_decode failed (prefill)", NULL);
}

static void decode_one(llama_token t, int pos)
{
    batch.n_tokens = 1;
    batch.token[0] = t;
    batch.pos[0] = pos;
    batch.n_seq_id[0] = 1;
    batch.seq_id[0][0] = 0;
    batch.logits[0] = 1;
    if (llama_decode(ctx, batch) != 0)
        die("llama_decode failed (decode)", NULL);
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
        die("usage: xf_llama check|time MODEL.gguf TOKENS.bin N PROMPT STEPS OUT.bin|REPS",
            NULL);
    int check = !strcmp(argv[1], "check");
    int n = atoi(argv[4]), prompt = atoi(argv[5]), steps = atoi(argv[6]);
    const char *th = getenv("XF_THREADS");
    int threads = th ? atoi(th) : 1;
    if (threads < 1)
        die("XF_THREADS must be at least 1", NULL);

    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.load_mode = LLAMA_LOAD_MODE_NONE;    /* weights read into memory, as xfc's open does */
    struct llama_model *model = llama_model_load_from_file(argv[2], mp);
    if (!model)
        die("cannot load", argv[2]);
    int context = llama_model_n_ctx_train(model);
    vocab_n = llama_vocab_n_tokens(llama_model_get_vocab(model));
    if (n < 1 || n > context || prompt < 1 || steps < 0 || prompt + steps > context)
        die("N, PROMPT + STEPS must lie in [1, CONTEXT]", NULL);
    int need = n > prompt + steps ? n : prompt + steps;

    int32_t *tok = malloc((size_t)need * sizeof *tok);
    FILE *f = fopen(argv[3], "rb");
    if (!tok || !f || fread(tok, sizeof *tok, (size_t)need, f) != (size_t)need)
        die("cannot read tokens from", argv[3]);
    fclose(f);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)context;
    cp.n_batch = cp.n_ubatch = (uint32_t)context;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    ctx = llama_init_from_model(model, cp);
    if (!ctx)
        die("cannot create a context for", argv[2]);
    batch = llama_batch_init(context, 0, 1);

    if (check) {
        FILE *o = fopen(argv[7], "wb");
        if (!o)
            die("cannot write", argv[7]);
        prefill(tok, n, 1);
        for (int i = 0; i < n; i++)
            fwrite(llama_get_logits_ith(ctx, i), sizeof(float), (size_t)vocab_n, o);
        prefill(tok, prompt, 0);
        for (int i = 0; i < steps; i++) {
            decode_one(tok[prompt + i], prompt + i);
            fwrite(llama_get_logits_ith(ctx, -1), sizeof(float), (size_t)vocab_n, o);
        }
        if (fclose(o))
            die("cannot write", argv[7]);
    } else {
        int reps = atoi(argv[7]);
        if (reps < 1)
            die("REPS must be at least 1", NULL);
        double *pre = malloc((size_t)reps * sizeof *pre), *d = malloc((size_t)reps * sizeof *d);
        if (!pre || !d)
            die("out of memory", NULL);
        prefill(tok, n, 1);                                     /* warm-up */
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            prefill(tok, n, 1);
            pre[r] = now_s() - t0;
        }
        prefill(tok, prompt, 0);                                /* warm-up */
        for (int i = 0; i < (steps < 8 ? steps : 8); i++)
            decode_one(tok[prompt + i], prompt + i);
        for (int r = 0; r < reps; r++) {
            prefill(tok, prompt, 0);
            double t0 = now_s();
            for (int i = 0; i < steps; i++)
                decode_one(tok[prompt + i], prompt + i);
            d[r] = now_s() - t0;
        }
        printf("{\n  \"threads\": %d,\n  \"n\": %d,\n  \"prompt\": %d,\n  \"steps\": %d,\n",
               threads, n, prompt, steps);
        print_list("prefill_s", pre, reps, 0);
        print_list("decode_s", d, reps, 1);
        printf("}\n");
        free(pre);
        free(d);
    }
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    free(tok);
    return 0;
}
