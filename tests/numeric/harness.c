/* Generic driver for one xfc-generated model (SPEC §5 API).
 *
 * Build (NAME = the model's name in the .xf file):
 *   clang -std=c11 -O2 -fopenmp -DXF_MODEL=NAME -include OUT/NAME.h OUT/NAME.c harness.c -lm
 * (or -DXF_HEADER='"OUT/NAME.h"' instead of -include).
 *
 * Run:  harness WEIGHTS SCRIPT OUT.bin
 * SCRIPT has one command per line (tokens are comma lists, "-" is empty):
 *   forward T,T,...       forward must return 0; its [n][OUT] outputs go to OUT.bin
 *   decode T              decode must return 0; its [OUT] outputs go to OUT.bin
 *   reset
 *   check_bad P,P,... T   bad-input battery (below); T = -1 for a model without decode
 *   open_fail PATH        NAME_open(PATH) must fail with a short, terminated message
 * Every bad call must return a negative code, write nothing to logits and leave
 * the model's state unchanged: the decode (or forward, without decode) that
 * follows must give bitwise the logits it gives without the bad call.
 * Prints "info vocab=V dim=D context=C out=O", "info weights=F weight_bytes=B"
 * (NAME_WEIGHTS, NAME_WEIGHT_BYTES), one line per command, and FAIL lines;
 * exits 1 if any check failed, 2 on usage or I/O errors.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef XF_HEADER
#include XF_HEADER
#endif

#ifndef XF_MODEL
#error "define XF_MODEL to the model's name"
#endif

#define XF_CAT_(a, b) a##b
#define XF_CAT(a, b) XF_CAT_(a, b)
#define XF_FN(suffix) XF_CAT(XF_MODEL, suffix)

typedef XF_MODEL Model;
#define M_OPEN    XF_FN(_open)
#define M_CLOSE   XF_FN(_close)
#define M_FORWARD XF_FN(_forward)
#define M_DECODE  XF_FN(_decode)
#define M_RESET   XF_FN(_reset)
#define M_VOCAB   XF_FN(_VOCAB)
#define M_DIM     XF_FN(_DIM)
#define M_CONTEXT XF_FN(_CONTEXT)
#define M_OUT     XF_FN(_OUT)
#define M_WEIGHTS XF_FN(_WEIGHTS)
#define M_WEIGHT_BYTES XF_FN(_WEIGHT_BYTES)

static const uint32_t SENTINEL = 0x7fc0deadu;   /* a quiet NaN no kernel produces */

static Model *g_model;
static float *g_logits;          /* [CONTEXT + 1][OUT] */
static float *g_ref;             /* [CONTEXT + 1][OUT] */
static int32_t *g_toks;          /* [CONTEXT + 2] */
static FILE *g_out;
static int g_failures;
static int g_line;

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL line %d: ", g_line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    g_failures++;
}

static size_t logits_count(int rows)
{
    return (size_t)rows * (size_t)M_OUT;
}

static void fill_sentinel(float *buf, int rows)
{
    size_t n = logits_count(rows);
    for (size_t i = 0; i < n; i++)
        memcpy(&buf[i], &SENTINEL, sizeof SENTINEL);
}

static int untouched(const float *buf, int rows)
{
    size_t n = logits_count(rows);
    for (size_t i = 0; i < n; i++)
        if (memcmp(&buf[i], &SENTINEL, sizeof SENTINEL) != 0)
            return 0;
    return 1;
}

/* Parses "1,2,3" (or "-" for none) into g_toks; returns the count, or -1. */
static int parse_tokens(const char *s, int max)
{
    int n = 0;
    if (strcmp(s, "-") == 0)
        return 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || n >= max)
            return -1;
        g_toks[n++] = (int32_t)v;
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

static void emit(const float *buf, int rows)
{
    if (fwrite(buf, sizeof(float), logits_count(rows), g_out) != logits_count(rows)) {
        fprintf(stderr, "harness: write failed\n");
        exit(2);
    }
}

/* The good call that follows each bad one: decode(tok), or forward(prefix)
 * when the model has no decode. Result in g_logits. */
static int follow_up(const int32_t *prefix, int n, int32_t tok)
{
    if (tok >= 0)
        return M_DECODE(g_model, tok, g_logits);
    return M_FORWARD(g_model, prefix, n, g_logits);
}

static int prepare(const int32_t *prefix, int n)
{
    int rc = M_FORWARD(g_model, prefix, n, g_logits);
    if (rc != 0)
        fail("check_bad: forward of the prefix returned %d", rc);
    fill_sentinel(g_logits, M_CONTEXT + 1);
    return rc;
}

static void after_bad(const char *what, int rc, const int32_t *prefix, int n, int32_t tok)
{
    int rows = tok >= 0 ? 1 : n;
    if (rc >= 0)
        fail("%s: returned %d, expected a negative code", what, rc);
    if (!untouched(g_logits, M_CONTEXT + 1))
        fail("%s: wrote to logits (rc %d)", what, rc);
    rc = follow_up(prefix, n, tok);
    if (rc != 0) {
        fail("%s: the good call after it returned %d", what, rc);
        return;
    }
    if (memcmp(g_logits, g_ref, logits_count(rows) * sizeof(float)) != 0)
        fail("%s: state changed: the next call's logits differ", what);
}

static void check_bad(int32_t *prefix, int n, int32_t tok)
{
    const int V = M_VOCAB, C = M_CONTEXT;
    int rows = tok >= 0 ? 1 : n;
    int32_t *bad = malloc(sizeof(int32_t) * (size_t)(C + 2));
    int rc;

    if (!bad || n < 1 || n >= C) {
        fail("check_bad: prefix length %d must be in [1, context - 1] (%d)", n, C);
        free(bad);
        return;
    }
    /* the baseline */
    if (prepare(prefix, n) != 0 || follow_up(prefix, n, tok) != 0) {
        fail("check_bad: baseline call failed");
        free(bad);
        return;
    }
    memcpy(g_ref, g_logits, logits_count(rows) * sizeof(float));

    /* forward with a token out of range, at the start, in the middle, at the end */
    const int32_t bad_values[] = {-1, V, INT32_MIN, INT32_MAX};
    for (int k = 0; k < 4; k++) {
        int at = (k * (n - 1)) / 3;
        memcpy(bad, prefix, sizeof(int32_t) * (size_t)n);
        bad[at] = bad_values[k];
        prepare(prefix, n);
        rc = M_FORWARD(g_model, bad, n, g_logits);
        after_bad(k == 0 ? "forward(token -1)" : k == 1 ? "forward(token vocab)"
                  : k == 2 ? "forward(token INT32_MIN)" : "forward(token INT32_MAX)",
                  rc, prefix, n, tok);
    }
    /* n = 0, n = -1, n = context + 1 (all tokens valid) */
    for (int i = 0; i < C + 1; i++)
        bad[i] = prefix[i % n];
    prepare(prefix, n);
    after_bad("forward(n = 0)", M_FORWARD(g_model, bad, 0, g_logits), prefix, n, tok);
    prepare(prefix, n);
    after_bad("forward(n = -1)", M_FORWARD(g_model, bad, -1, g_logits), prefix, n, tok);
    prepare(prefix, n);
    after_bad("forward(n = context + 1)", M_FORWARD(g_model, bad, C + 1, g_logits), prefix, n, tok);

    if (tok >= 0) {
        /* decode with a token out of range */
        prepare(prefix, n);
        after_bad("decode(token -1)", M_DECODE(g_model, -1, g_logits), prefix, n, tok);
        prepare(prefix, n);
        after_bad("decode(token vocab)", M_DECODE(g_model, V, g_logits), prefix, n, tok);

        /* decode on a full cache: fill it with forward(context), and with decodes */
        for (int i = 0; i < C; i++)
            bad[i] = prefix[i % n];
        rc = M_FORWARD(g_model, bad, C, g_logits);
        if (rc != 0)
            fail("check_bad: forward(context) returned %d", rc);
        fill_sentinel(g_logits, C + 1);
        rc = M_DECODE(g_model, tok, g_logits);
        if (rc >= 0 || !untouched(g_logits, C + 1))
            fail("decode on a full cache: rc %d (expected negative), logits untouched: %d",
                 rc, untouched(g_logits, C + 1));
        rc = M_FORWARD(g_model, bad, C - 1, g_logits);
        if (rc == 0)
            rc = M_DECODE(g_model, tok, g_logits);
        if (rc != 0)
            fail("check_bad: forward(context - 1) + decode returned %d", rc);
        fill_sentinel(g_logits, C + 1);
        rc = M_DECODE(g_model, tok, g_logits);
        if (rc >= 0 || !untouched(g_logits, C + 1))
            fail("decode on a cache filled by decode: rc %d (expected negative), logits untouched: %d",
                 rc, untouched(g_logits, C + 1));
        /* reset empties the cache: decode works again, at position 0 */
        M_RESET(g_model);
        rc = M_DECODE(g_model, tok, g_logits);
        if (rc != 0)
            fail("check_bad: decode after reset returned %d", rc);
    } else {
        /* no decode on this model (bidirectional attention), whatever the state */
        const char *names[] = {"decode on a model without decode (after forward)",
                               "decode on a model without decode (after reset)"};
        for (int k = 0; k < 2; k++) {
            prepare(prefix, n);
            if (k == 1)
                M_RESET(g_model);
            after_bad(names[k], M_DECODE(g_model, prefix[0], g_logits), prefix, n, tok);
        }
    }
    free(bad);
}

static void open_fail(const char *path)
{
    enum { SMALL = 16 };
    char *err = malloc(SMALL);   /* exact size: ASan catches an overflow */
    memset(err, 'x', SMALL);
    Model *m = M_OPEN(path, err, SMALL);
    if (m) {
        fail("open_fail: open succeeded on a bad file %s", path);
        M_CLOSE(m);
    } else if (memchr(err, '\0', SMALL) == NULL) {
        fail("open_fail: error message not terminated within err_size %d", SMALL);
    } else if (err[0] == '\0') {
        fail("open_fail: empty error message");
    }
    free(err);
    /* a full-size buffer: print the message for the log */
    char msg[512];
    msg[0] = '\0';
    m = M_OPEN(path, msg, sizeof msg);
    if (m)
        M_CLOSE(m);
    printf("open_fail %s: %s\n", path, msg);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s WEIGHTS SCRIPT OUT.bin\n", argv[0]);
        return 2;
    }
    const int C = M_CONTEXT;
    char err[512] = "";
    g_model = M_OPEN(argv[1], err, sizeof err);
    if (!g_model) {
        fprintf(stderr, "harness: open %s: %s\n", argv[1], err);
        return 2;
    }
    g_logits = malloc(logits_count(C + 1) * sizeof(float));
    g_ref = malloc(logits_count(C + 1) * sizeof(float));
    g_toks = malloc(sizeof(int32_t) * (size_t)(C + 2));
    char *script = read_file(argv[2]);
    g_out = fopen(argv[3], "wb");
    if (!g_logits || !g_ref || !g_toks || !script || !g_out) {
        fprintf(stderr, "harness: out of memory or cannot open files\n");
        return 2;
    }
    printf("info vocab=%ld dim=%ld context=%ld out=%ld\n", (long)M_VOCAB, (long)M_DIM,
           (long)M_CONTEXT, (long)M_OUT);
    printf("info weights=%s weight_bytes=%lld\n", M_WEIGHTS, (long long)M_WEIGHT_BYTES);

    char *save = script;
    for (char *line = script; line && *line; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        g_line++;
        char cmd[32], a1[1 << 16], a2[64];
        if (strlen(line) >= sizeof a1) {
            fail("script: line too long (%zu)", strlen(line));
            continue;
        }
        int na = sscanf(line, "%31s %65535s %63s", cmd, a1, a2);
        if (na <= 0 || cmd[0] == '#')
            continue;
        if (strcmp(cmd, "forward") == 0 && na >= 2) {
            int n = parse_tokens(a1, C);
            if (n < 1) {
                fail("forward: bad token list");
                continue;
            }
            fill_sentinel(g_logits, n);
            int rc = M_FORWARD(g_model, g_toks, n, g_logits);
            if (rc != 0)
                fail("forward: returned %d (n = %d)", rc, n);
            emit(g_logits, n);
            printf("forward n=%d rc=%d\n", n, rc);
        } else if (strcmp(cmd, "decode") == 0 && na >= 2) {
            int32_t t = (int32_t)strtol(a1, NULL, 10);
            fill_sentinel(g_logits, 1);
            int rc = M_DECODE(g_model, t, g_logits);
            if (rc != 0)
                fail("decode: returned %d (token %d)", rc, (int)t);
            emit(g_logits, 1);
            printf("decode %d rc=%d\n", (int)t, rc);
        } else if (strcmp(cmd, "reset") == 0) {
            M_RESET(g_model);
            printf("reset\n");
        } else if (strcmp(cmd, "check_bad") == 0 && na == 3) {
            int n = parse_tokens(a1, C);
            int32_t *prefix = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
            memcpy(prefix, g_toks, sizeof(int32_t) * (size_t)(n > 0 ? n : 0));
            int before = g_failures;
            check_bad(prefix, n, (int32_t)strtol(a2, NULL, 10));
            free(prefix);
            printf("check_bad n=%d: %s\n", n, g_failures == before ? "ok" : "FAILED");
        } else if (strcmp(cmd, "open_fail") == 0 && na >= 2) {
            open_fail(a1);
        } else {
            fail("script: unknown command or missing argument: %s", line);
        }
    }
    fclose(g_out);
    M_CLOSE(g_model);
    free(script);
    free(g_logits);
    free(g_ref);
    free(g_toks);
    printf("harness: %d failure(s)\n", g_failures);
    return g_failures ? 1 : 0;
}
