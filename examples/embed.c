/* embed.c - sentence embeddings from an xfc-compiled BERT-family encoder
 * (head = none), e.g. all-MiniLM-L6-v2 converted by tools/hf2xf.py.
 *
 *   embed MODEL.safetensors VOCAB.txt TEXT...               one embedding per line
 *   embed --similarity MODEL.safetensors VOCAB.txt TEXT...  the cosine matrix
 *   embed --rank MODEL.safetensors VOCAB.txt QUERY TEXT...  TEXTs by cosine to QUERY
 *   embed --ids MODEL.safetensors VOCAB.txt TEXT...         token ids only (no model run)
 *
 * Each TEXT is tokenized as BERT's uncased WordPiece tokenizer does it:
 * control characters dropped and whitespace made ' ', spaces around CJK
 * ideographs, accents stripped (NFD, then nonspacing marks dropped), lower
 * case, split at whitespace and around punctuation, then each word cut
 * greedily into the longest pieces VOCAB.txt holds ("##" marks a piece that
 * continues a word; a word with no such cut is [UNK]), framed by [CLS] and
 * [SEP].  Unicode data (decomposition, categories, case) comes from utf8proc;
 * the ids equal Hugging Face's tokenizer's (tests/model/test_embed.py) except
 * on characters whose Unicode data changed after that tokenizer's tables.
 * The embedding is the mean of the model's output over the tokens, L2
 * normalized, as sentence-transformers computes it.
 *
 *   xfc minilm.xf -o out/minilm.c
 *   cc -O3 -march=native -fopenmp -DXF_MODEL=minilm -Iout -Iexamples \
 *      out/minilm.c examples/embed.c -lutf8proc -lm -o embed
 *
 * XF_MODEL names the model (the API prefix); its header is XF_MODEL.h. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "xf_model.h"

#define DIM XF_FN(_DIM)
#define OUT XF_FN(_OUT)

#define MAX_WORD_CHARS 100   /* a longer word is [UNK], as in BERT */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "embed: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

/* ---- the vocabulary: token -> id, an open-addressing hash table --------- */

typedef struct {
    char  **tok;        /* by id */
    int     n;
    int32_t *slot;      /* -1 empty, else an id */
    size_t  mask;
} Vocab;

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int vocab_find(const Vocab *v, const char *s, size_t n)
{
    for (size_t i = hash(s, n) & v->mask;; i = (i + 1) & v->mask) {
        int32_t id = v->slot[i];
        if (id < 0)
            return -1;
        if (strlen(v->tok[id]) == n && memcmp(v->tok[id], s, n) == 0)
            return id;
    }
}

static void vocab_load(Vocab *v, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    memset(v, 0, sizeof *v);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if ((v->n & (v->n - 1)) == 0)
            v->tok = xrealloc(v->tok, sizeof *v->tok * (size_t)(v->n ? 2 * v->n : 1));
        v->tok[v->n] = strdup(line);
        if (!v->tok[v->n])
            die("out of memory");
        v->n++;
    }
    free(line);
    if (ferror(f))
        die("%s: read error", path);
    fclose(f);
    if (v->n == 0)
        die("%s: empty vocabulary", path);
    size_t size = 2;
    while (size < 2 * (size_t)v->n)
        size *= 2;
    v->mask = size - 1;
    v->slot = xrealloc(NULL, sizeof *v->slot * size);
    for (size_t i = 0; i < size; i++)
        v->slot[i] = -1;
    for (int id = 0; id < v->n; id++) {
        size_t n = strlen(v->tok[id]);
        if (vocab_find(v, v->tok[id], n) >= 0)
            continue;   /* a duplicate line: the first id wins */
        size_t i = hash(v->tok[id], n) & v->mask;
        while (v->slot[i] >= 0)
            i = (i + 1) & v->mask;
        v->slot[i] = id;
    }
}

static int vocab_need(const Vocab *v, const char *tok, const char *path)
{
    int id = vocab_find(v, tok, strlen(tok));
    if (id < 0)
        die("%s: no %s token", path, tok);
    return id;
}

static void vocab_free(Vocab *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->tok[i]);
    free(v->tok);
    free(v->slot);
}

/* ---- BERT's normalization and pre-tokenization, on code points ---------- */

typedef struct {
    int32_t *cp;
    size_t   n, cap;
} Cps;

static void push(Cps *c, int32_t cp)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->cp = xrealloc(c->cp, sizeof *c->cp * c->cap);
    }
    c->cp[c->n++] = cp;
}

static bool is_whitespace(int32_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x85)
        return true;
    int cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

/* Control, format, surrogate and private-use characters, except \t \n \r.
 * Unassigned code points (Cn) are kept, as Hugging Face's tokenizer keeps
 * them (they become [UNK]). */
static bool is_control(int32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r')
        return false;
    int cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CS ||
           cat == UTF8PROC_CATEGORY_CO;
}

/* The CJK Unified Ideographs blocks BERT puts spaces around (its definition,
 * with the range Hugging Face's tokenizers library uses: from 0x2B920, where
 * the original Python code has 0x2B820). */
static bool is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_punct(int32_t c)   /* ASCII non-alphanumeric symbols, or category P* */
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
        return true;
    int cat = utf8proc_category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

/* text (UTF-8) -> normalized code points; NULL text error message on bad UTF-8 */
static const char *normalize(const char *text, Cps *out)
{
    Cps a = {0};
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
    utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(text);
    while (len > 0) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(s, len, &c);
        if (k < 0) {
            free(a.cp);
            return "not valid UTF-8";
        }
        s += k;
        len -= k;
        if (c == 0 || c == 0xFFFD || is_control(c))
            continue;
        if (is_whitespace(c)) {
            push(&a, ' ');
        } else if (is_cjk(c)) {
            push(&a, ' ');
            push(&a, c);
            push(&a, ' ');
        } else {
            push(&a, c);
        }
    }
    /* NFD, then drop nonspacing marks (the accents), then lower case */
    out->n = 0;
    for (size_t i = 0; i < a.n;) {
        /* decompose one run up to the next space, so canonical reordering sees whole clusters */
        size_t j = i;
        while (j < a.n && a.cp[j] != ' ')
            j++;
        if (j == i) {
            push(out, ' ');
            i++;
            continue;
        }
        Cps u = {0};
        for (size_t k = i; k < j; k++) {
            utf8proc_uint8_t buf[4];
            utf8proc_ssize_t m = utf8proc_encode_char(a.cp[k], buf);
            for (utf8proc_ssize_t q = 0; q < m; q++)
                push(&u, buf[q]);
        }
        utf8proc_uint8_t *bytes = xrealloc(NULL, u.n);
        for (size_t k = 0; k < u.n; k++)
            bytes[k] = (utf8proc_uint8_t)u.cp[k];
        utf8proc_ssize_t need = utf8proc_decompose(bytes, (utf8proc_ssize_t)u.n, NULL, 0, UTF8PROC_DECOMPOSE);
        if (need < 0) {
            free(bytes), free(u.cp), free(a.cp);
            return "not valid Unicode";
        }
        utf8proc_int32_t *d = xrealloc(NULL, sizeof *d * (size_t)need);
        utf8proc_decompose(bytes, (utf8proc_ssize_t)u.n, d, need, UTF8PROC_DECOMPOSE);
        for (utf8proc_ssize_t k = 0; k < need; k++)
            if (utf8proc_category(d[k]) != UTF8PROC_CATEGORY_MN)
                push(out, utf8proc_tolower(d[k]));
        free(d), free(bytes), free(u.cp);
        i = j;
    }
    free(a.cp);
    return NULL;
}

/* ---- WordPiece ---------------------------------------------------------- */

typedef struct {
    int32_t *id;
    int      n, cap;
} Ids;

static void push_id(Ids *t, int32_t id)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->id = xrealloc(t->id, sizeof *t->id * (size_t)t->cap);
    }
    t->id[t->n++] = id;
}

/* One word's pieces: the longest vocabulary entry from each start, "##" after
 * the first; [UNK] for the whole word when some start matches nothing. */
static void wordpiece(const Vocab *v, const int32_t *w, size_t n, int unk, Ids *out)
{
    if (n > MAX_WORD_CHARS) {
        push_id(out, unk);
        return;
    }
    char word[4 * MAX_WORD_CHARS], piece[4 * MAX_WORD_CHARS + 2] = "##";
    size_t off[MAX_WORD_CHARS + 1], len = 0;   /* code point i starts at word + off[i] */
    for (size_t i = 0; i < n; i++) {
        off[i] = len;
        len += (size_t)utf8proc_encode_char(w[i], (utf8proc_uint8_t *)word + len);
    }
    off[n] = len;
    int before = out->n;
    for (size_t start = 0; start < n;) {
        int id = -1;
        size_t end = n;
        for (; end > start && id < 0; end--) {
            size_t m = off[end] - off[start];
            if (start == 0) {
                id = vocab_find(v, word, m);
            } else {
                memcpy(piece + 2, word + off[start], m);
                id = vocab_find(v, piece, m + 2);
            }
        }
        if (id < 0) {
            out->n = before;
            push_id(out, unk);
            return;
        }
        push_id(out, id);
        start = end + 1;
    }
}

typedef struct {
    int cls, sep, unk;
} Special;

/* [CLS] pieces [SEP]; NULL or an error message */
static const char *tokenize(const Vocab *v, Special sp, const char *text, Ids *out)
{
    Cps c = {0};
    const char *err = normalize(text, &c);
    if (err)
        return err;
    out->n = 0;
    push_id(out, sp.cls);
    for (size_t i = 0; i < c.n;) {
        if (c.cp[i] == ' ') {
            i++;
            continue;
        }
        if (is_punct(c.cp[i])) {
            wordpiece(v, &c.cp[i], 1, sp.unk, out);
            i++;
            continue;
        }
        size_t j = i;
        while (j < c.n && c.cp[j] != ' ' && !is_punct(c.cp[j]))
            j++;
        wordpiece(v, &c.cp[i], j - i, sp.unk, out);
        i = j;
    }
    push_id(out, sp.sep);
    free(c.cp);
    return NULL;
}

/* ---- the app ------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: embed [--similarity | --rank | --ids] MODEL.safetensors VOCAB.txt TEXT...\n"
            "  (no flag)     one line per TEXT: its embedding, %d numbers\n"
            "  --similarity  the cosine matrix of the TEXTs, one row per TEXT\n"
            "  --rank        the first TEXT is a query: the others by cosine to it, best first\n"
            "  --ids         the token ids of each TEXT, without running the model\n",
            (int)DIM);
    exit(2);
}

typedef struct {
    float cos;
    int   i;
} Ranked;

static int by_cos_desc(const void *a, const void *b)
{
    const Ranked *x = a, *y = b;
    if (x->cos != y->cos)
        return x->cos > y->cos ? -1 : 1;
    return x->i - y->i;
}

int main(int argc, char **argv)
{
    enum { EMBED, SIMILARITY, RANK, IDS } mode = EMBED;
    int a = 1;
    for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a++) {
        if (strcmp(argv[a], "--similarity") == 0)
            mode = SIMILARITY;
        else if (strcmp(argv[a], "--rank") == 0)
            mode = RANK;
        else if (strcmp(argv[a], "--ids") == 0)
            mode = IDS;
        else if (strcmp(argv[a], "--") == 0) {
            a++;
            break;
        } else
            usage();
    }
    if (argc - a < 3 || (mode == RANK && argc - a < 4))
        usage();
    const char *weights = argv[a], *vocab_path = argv[a + 1];
    char **texts = argv + a + 2;
    int n_texts = argc - a - 2;

    Vocab v;
    vocab_load(&v, vocab_path);
    Special sp = {vocab_need(&v, "[CLS]", vocab_path), vocab_need(&v, "[SEP]", vocab_path),
                  vocab_need(&v, "[UNK]", vocab_path)};
    if (v.n > VOCAB)
        die("%s has %d tokens, more than the model's vocabulary of %d", vocab_path, v.n, (int)VOCAB);

    Ids *ids = xrealloc(NULL, sizeof *ids * (size_t)n_texts);
    for (int t = 0; t < n_texts; t++) {
        ids[t] = (Ids){0};
        const char *err = tokenize(&v, sp, texts[t], &ids[t]);
        if (err)
            die("text %d: %s", t + 1, err);
        if (ids[t].n > CONTEXT)
            die("text %d is %d tokens long ([CLS] and [SEP] included), more than the model's "
                "context of %d", t + 1, ids[t].n, (int)CONTEXT);
    }
    if (mode == IDS) {
        for (int t = 0; t < n_texts; t++)
            for (int i = 0; i < ids[t].n; i++)
                printf("%d%c", ids[t].id[i], i + 1 < ids[t].n ? ' ' : '\n');
    } else {
        char err[512];
        XF_MODEL *m = XF_FN(_open)(weights, err, sizeof err);
        if (!m)
            die("%s", err);
        float *h = xrealloc(NULL, sizeof *h * (size_t)CONTEXT * OUT);
        float *e = xrealloc(NULL, sizeof *e * (size_t)n_texts * OUT);
        for (int t = 0; t < n_texts; t++) {
            int rc = XF_FN(_forward)(m, ids[t].id, ids[t].n, h);
            if (rc != 0)
                die("text %d: forward failed (%d)", t + 1, rc);
            double norm = 0;
            for (int j = 0; j < OUT; j++) {   /* mean over the tokens, then L2 normalize */
                double s = 0;
                for (int i = 0; i < ids[t].n; i++)
                    s += h[(size_t)i * OUT + j];
                e[(size_t)t * OUT + j] = (float)(s / ids[t].n);
                norm += (s / ids[t].n) * (s / ids[t].n);
            }
            norm = sqrt(norm) > 1e-12 ? sqrt(norm) : 1e-12;
            for (int j = 0; j < OUT; j++)
                e[(size_t)t * OUT + j] = (float)(e[(size_t)t * OUT + j] / norm);
        }
        XF_FN(_close)(m);
        Ranked *r = xrealloc(NULL, sizeof *r * (size_t)n_texts);
        for (int t = 0; t < n_texts; t++) {
            for (int u = 0; u < n_texts; u++) {
                double dot = 0;
                for (int j = 0; j < OUT; j++)
                    dot += (double)e[(size_t)t * OUT + j] * e[(size_t)u * OUT + j];
                r[u] = (Ranked){(float)dot, u};
            }
            if (mode == EMBED) {
                for (int j = 0; j < OUT; j++)
                    printf("%.8g%c", e[(size_t)t * OUT + j], j + 1 < OUT ? ' ' : '\n');
            } else if (mode == SIMILARITY) {
                for (int u = 0; u < n_texts; u++)
                    printf("%.6f%c", r[u].cos, u + 1 < n_texts ? ' ' : '\n');
            } else {   /* RANK: row 0 only */
                qsort(r + 1, (size_t)n_texts - 1, sizeof *r, by_cos_desc);
                for (int u = 1; u < n_texts; u++)
                    printf("%.4f  %s\n", r[u].cos, texts[r[u].i]);
                break;
            }
        }
        free(r);
        free(e);
        free(h);
    }
    for (int t = 0; t < n_texts; t++)
        free(ids[t].id);
    free(ids);
    vocab_free(&v);
    return 0;
}
