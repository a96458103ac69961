/* weights.c - which weights --weights converts and what they cost resident;
 * `xfc --init-weights`: one safetensors file (F32, BF16 or F16) holding every
 * WEIGHT of a graph, with values that are deterministic for the seed.
 *
 * Tensors are sorted by name and laid out back to back (the layout the
 * reference safetensors library requires); the header is padded with spaces so
 * the data section starts at a multiple of 8, which keeps every tensor 4-byte
 * aligned.  Each tensor draws from its own splitmix64 stream, seeded by the
 * seed and its name, so a tensor's values do not depend on which other
 * tensors the model has.
 *
 * Values: norm weights 1, norm biases and linear biases 0, `embed` and
 * `pos_embed` uniform(-0.5, 0.5), everything else (matrices and routers)
 * uniform(-a, a) with a = 1/sqrt(fan_in), fan_in the last dimension.  A BF16
 * or F16 file holds those F32 values rounded to the nearest (ties to even). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* ---- weight formats (docs/semantics.md, "Weight formats") ---------------- */

const char *ir_weight_format_name(XfWeightFormat f)
{
    return f == XF_WEIGHTS_BF16 ? "bf16" : f == XF_WEIGHTS_Q8 ? "q8" : "f32";
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool ir_weight_converts(const char *name)
{
    static const char *const matrices[] = {".attn.wq", ".attn.wk", ".attn.wv", ".attn.wo",
                                           ".ffn.w1",  ".ffn.w2",  ".ffn.w3",  ".moe.w1",
                                           ".moe.w2",  ".moe.w3",  ".sffn.w1", ".sffn.w2"};
    if (strcmp(name, "embed") == 0 || strcmp(name, "lm_head") == 0)
        return true;
    if (strncmp(name, "blocks.", 7) != 0)
        return false;
    for (size_t i = 0; i < sizeof matrices / sizeof *matrices; i++)
        if (ends_with(name, matrices[i]))
            return true;
    return false;
}

int64_t ir_weight_bytes(const XfNode *w, XfWeightFormat f)
{
    int64_t e = ir_shape_elems(&w->shape), r;
    if (e == INT64_MAX)
        return INT64_MAX;
    if (f == XF_WEIGHTS_F32 || !ir_weight_converts(w->attr.name))
        return xf_mul_overflow(e, 4, &r) ? INT64_MAX : r;
    if (f == XF_WEIGHTS_BF16)
        return xf_mul_overflow(e, 2, &r) ? INT64_MAX : r;
    int64_t cols = w->shape.dim[w->shape.rank - 1], rows = cols ? e / cols : 0;
    int64_t blocks, sb;
    if (xf_mul_overflow(rows, (cols + 31) / 32, &blocks) || xf_mul_overflow(blocks, 4, &sb) ||
        e > INT64_MAX - sb)
        return INT64_MAX;
    return e + sb;
}

int64_t ir_weights_resident_bytes(const XfGraph *g, XfWeightFormat f)
{
    int64_t sum = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        if (g->nodes[id].op != XF_OP_WEIGHT)
            continue;
        int64_t b = ir_weight_bytes(&g->nodes[id], f);
        if (b == INT64_MAX || sum > INT64_MAX - b)
            return INT64_MAX;
        sum += b;
    }
    return sum;
}

/* ---- --init-weights -------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static uint64_t stream_seed(uint64_t seed, const char *name)
{
    uint64_t h = 0xCBF29CE484222325u;           /* FNV-1a of the name */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001B3u;
    uint64_t s = seed ^ h;
    return splitmix64(&s);
}


/* A name equal to `what` or ending in ".what". */
static bool is_named(const char *name, const char *what)
{
    size_t n = strlen(name), m = strlen(what);
    return strcmp(name, what) == 0 || (n > m && name[n - m - 1] == '.' && ends_with(name, what));
}

typedef enum { INIT_ONE, INIT_ZERO, INIT_EMBED, INIT_FAN_IN } InitKind;

static InitKind init_kind(const char *name)
{
    static const char *const biases[] = {"bq", "bk", "bv", "bo", "b1", "b2", "b3"};
    if (is_named(name, "norm.weight") || strcmp(name, "embed_norm.weight") == 0)
        return INIT_ONE;
    if (is_named(name, "norm.bias") || strcmp(name, "embed_norm.bias") == 0)
        return INIT_ZERO;
    for (size_t i = 0; i < sizeof biases / sizeof *biases; i++)
        if (is_named(name, biases[i]))
            return INIT_ZERO;
    if (strcmp(name, "embed") == 0 || strcmp(name, "pos_embed") == 0)
        return INIT_EMBED;
    return INIT_FAN_IN;
}

static void put_le(unsigned char *out, uint32_t u, int bytes)
{
    for (int k = 0; k < bytes; k++)
        out[k] = (unsigned char)(u >> (8 * k));
}

/* f to bfloat16, nearest even (the values here are finite) */
static uint32_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

/* f to IEEE half, nearest even, subnormals included (|f| < 65520 here) */
static uint32_t to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a >= 0x477ff000u)                           /* rounds past 65504 */
        return sign | 0x7c00u;
    if (a < 0x38800000u)                            /* below 2^-14: units of 2^-24 */
        return sign | (uint32_t)nearbyintf(fabsf(f) * 16777216.0f);
    uint32_t r = a - 0x38000000u;                   /* rebias the exponent 127 -> 15 */
    return sign | ((r + 0x0fffu + ((r >> 13) & 1u)) >> 13);
}

static int dtype_size(XfFileDtype d) { return d == XF_DTYPE_F32 ? 4 : 2; }

static void fill_tensor(unsigned char *out, const XfNode *n, int64_t count, uint64_t seed,
                        XfFileDtype dtype)
{
    InitKind kind = init_kind(n->attr.name);
    int64_t fan_in = n->shape.rank ? n->shape.dim[n->shape.rank - 1] : 1;
    float a = kind == INIT_EMBED ? 0.5f : (float)(1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1)));
    uint64_t s = stream_seed(seed, n->attr.name);
    for (int64_t i = 0; i < count; i++) {
        float v = kind == INIT_ONE ? 1.0f : 0.0f;
        if (kind == INIT_EMBED || kind == INIT_FAN_IN) {
            double u = (double)(splitmix64(&s) >> 40) / (double)(1u << 24);    /* [0, 1) */
            v = (float)(2.0 * u - 1.0) * a;
        }
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        int size = dtype_size(dtype);
        put_le(out + size * i, dtype == XF_DTYPE_BF16 ? to_bf16(v) : dtype == XF_DTYPE_F16 ? to_f16(v) : bits,
               size);
    }
}

static void json_string(XfStrBuf *sb, const char *s)
{
    xf_sb_puts(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            xf_sb_printf(sb, "\\%c", *p);
        else if (*p < 0x20)
            xf_sb_printf(sb, "\\u%04x", *p);
        else
            xf_sb_putn(sb, (const char *)p, 1);
    }
    xf_sb_puts(sb, "\"");
}

typedef struct {
    const char *name;
    XfId        id;
} WeightRef;

static int by_name(const void *a, const void *b)
{
    const WeightRef *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

static bool same_shape(const XfShape *a, const XfShape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

bool ir_weights_init(const XfGraph *g, const char *path, uint64_t seed, XfFileDtype dtype,
                     char *err, size_t n)
{
    static const char *const dtype_names[] = {"F32", "BF16", "F16"};
    const uint64_t size1 = (uint64_t)dtype_size(dtype);
    /* the live weights, sorted by name, each name once */
    WeightRef *ws = xf_xmalloc(((size_t)g->n_nodes + 1) * sizeof *ws);
    size_t count = 0;
    for (XfId id = 1; id <= g->n_nodes; id++)
        if (g->nodes[id].op == XF_OP_WEIGHT)
            ws[count++] = (WeightRef){g->nodes[id].attr.name, id};
    qsort(ws, count, sizeof *ws, by_name);
    XfId *ids = xf_xmalloc((count ? count : 1) * sizeof *ids);
    size_t uniq = 0;
    for (size_t i = 0; i < count; i++) {
        const XfNode *w = &g->nodes[ws[i].id];
        if (uniq > 0 && strcmp(g->nodes[ids[uniq - 1]].attr.name, w->attr.name) == 0) {
            if (!same_shape(&g->nodes[ids[uniq - 1]].shape, &w->shape)) {
                snprintf(err, n, "weight %s is declared with two different shapes", w->attr.name);
                free(ws), free(ids);
                return false;
            }
            continue;
        }
        ids[uniq++] = ws[i].id;
    }
    free(ws);

    /* header; offsets are relative to the data section */
    XfStrBuf hdr = {0};
    xf_sb_printf(&hdr,
                 "{\"__metadata__\":{\"format\":\"pt\",\"generator\":\"xfc\",\"seed\":\"%llu\"}",
                 (unsigned long long)seed);
    int64_t *elems = xf_xmalloc((uniq ? uniq : 1) * sizeof *elems);
    uint64_t offset = 0;
    for (size_t i = 0; i < uniq; i++) {
        const XfNode *w = &g->nodes[ids[i]];
        int64_t e = 1;
        for (int d = 0; d < w->shape.rank; d++)
            if (w->shape.dim[d] < 0 || xf_mul_overflow(e, w->shape.dim[d], &e))
                e = -1;
        if (e < 0 || (uint64_t)e > (SIZE_MAX / 2 - offset) / size1) {
            snprintf(err, n, "weight %s is too large", w->attr.name);
            free(ids), free(elems), xf_sb_free(&hdr);
            return false;
        }
        elems[i] = e;
        xf_sb_puts(&hdr, ",");
        json_string(&hdr, w->attr.name);
        xf_sb_printf(&hdr, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[dtype]);
        for (int d = 0; d < w->shape.rank; d++)
            xf_sb_printf(&hdr, "%s%lld", d ? "," : "", (long long)w->shape.dim[d]);
        xf_sb_printf(&hdr, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                     (unsigned long long)(offset + size1 * (uint64_t)e));
        offset += size1 * (uint64_t)e;
    }
    xf_sb_puts(&hdr, "}");
    while ((8 + hdr.len) % 8 != 0)
        xf_sb_puts(&hdr, " ");

    size_t size = 8 + hdr.len + (size_t)offset;
    unsigned char *buf = malloc(size);
    if (!buf) {
        snprintf(err, n, "%s: out of memory for %zu bytes of weights", path, size);
        free(ids), free(elems), xf_sb_free(&hdr);
        return false;
    }
    for (int k = 0; k < 8; k++)
        buf[k] = (unsigned char)((uint64_t)hdr.len >> (8 * k));
    memcpy(buf + 8, hdr.data, hdr.len);
    unsigned char *data = buf + 8 + hdr.len;
    for (size_t i = 0; i < uniq; i++) {
        fill_tensor(data, &g->nodes[ids[i]], elems[i], seed, dtype);
        data += (size_t)size1 * (size_t)elems[i];
    }
    bool ok = xf_write_file_atomic(path, buf, size, err, n);
    free(buf), free(ids), free(elems), xf_sb_free(&hdr);
    return ok;
}
