/* safetensors.c - maps a safetensors file and validates all of it before any
 * tensor is handed out.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON, then the data
 * section.  The JSON is parsed from a private heap copy of exactly N bytes, so
 * the parser can never wander past the header (and AddressSanitizer would see
 * it if it did).  Every tensor's offsets are checked against the data section,
 * against its dtype and shape, and against every other tensor, so later reads
 * need no checks.  After open, `tensors` is sorted by name; `names` holds for
 * each tensor "NAME\0DTYPE\0" (the dtype text is kept for messages).
 *
 * Lookups hand out fp32 values (F32 as stored, BF16 and F16 widened exactly),
 * the data as stored, or a matrix converted per --weights; every copy they
 * make is owned by the file and freed at close. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xfrt.h"
#include "xfrt_wfmt.h"

#define XFRT_JSON_MAX_DEPTH 64

#if defined(__GNUC__) || defined(__clang__)
#define XFRT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define XFRT_PRINTF(f, a)
#endif

/* Writes the message; returns -1. */
static inline int xfrt_errf(char *err, size_t err_size, const char *fmt, ...) XFRT_PRINTF(3, 4);
static inline int xfrt_errf(char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- a strict JSON reader ------------------------------------------------ */

typedef struct {
    const unsigned char *s;     /* [n] header text */
    size_t               n, i;
    int                  depth;
    int                  bad;   /* an error was reported */
    char                *err;
    size_t               err_size;
} XfrtJson;

static inline int xfrt_json_fail(XfrtJson *p, const char *what)
{
    if (!p->bad)
        xfrt_errf(p->err, p->err_size, "header: invalid JSON at byte %zu: %s", p->i, what);
    p->bad = 1;
    return -1;
}

static inline int xfrt_json_peek(const XfrtJson *p) { return p->i < p->n ? p->s[p->i] : -1; }

static inline void xfrt_json_ws(XfrtJson *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static inline int xfrt_json_expect(XfrtJson *p, int c, const char *what)
{
    xfrt_json_ws(p);
    if (xfrt_json_peek(p) != c)
        return xfrt_json_fail(p, what);
    p->i++;
    return 0;
}

/* Length of the valid UTF-8 sequence (2..4 bytes) at s, 0 when invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static inline size_t xfrt_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;  /* range of the second byte */
    unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (len == 0 || avail < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return len;
}

static inline void xfrt_put_byte(char *out, size_t cap, size_t *len, unsigned c)
{
    if (out && *len < cap)
        out[*len] = (char)c;
    (*len)++;
}

static inline void xfrt_put_utf8(char *out, size_t cap, size_t *len, unsigned long cp)
{
    static const unsigned lead[4] = {0x00, 0xC0, 0xE0, 0xF0};
    int extra = cp < 0x80 ? 0 : cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
    xfrt_put_byte(out, cap, len, lead[extra] | (unsigned)(cp >> (6 * extra)));
    for (int k = extra - 1; k >= 0; k--)
        xfrt_put_byte(out, cap, len, 0x80 | (unsigned)((cp >> (6 * k)) & 0x3F));
}

static inline int xfrt_json_hex4(XfrtJson *p, unsigned long *cp)
{
    if (p->n - p->i < 4)
        return xfrt_json_fail(p, "truncated \\u escape");
    unsigned long v = 0;
    for (int k = 0; k < 4; k++) {
        int c = p->s[p->i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return xfrt_json_fail(p, "bad hex digit in \\u escape");
        v = v * 16 + (unsigned long)d;
        p->i++;
    }
    *cp = v;
    return 0;
}

/* Reads a string at p->i (after whitespace).  Writes at most cap decoded
 * bytes to out (may be NULL) and the full decoded length to *len. */
static inline int xfrt_json_string(XfrtJson *p, char *out, size_t cap, size_t *len)
{
    *len = 0;
    if (xfrt_json_expect(p, '"', "expected a string") < 0)
        return -1;
    for (;;) {
        if (p->i >= p->n)
            return xfrt_json_fail(p, "unterminated string");
        unsigned c = p->s[p->i];
        if (c == '"') {
            p->i++;
            return 0;
        }
        if (c < 0x20)
            return xfrt_json_fail(p, "control character in string");
        if (c >= 0x80) {
            size_t k = xfrt_utf8_len(p->s + p->i, p->n - p->i);
            if (k == 0)
                return xfrt_json_fail(p, "invalid UTF-8 in string");
            for (size_t j = 0; j < k; j++)
                xfrt_put_byte(out, cap, len, p->s[p->i + j]);
            p->i += k;
            continue;
        }
        p->i++;
        if (c != '\\') {
            xfrt_put_byte(out, cap, len, c);
            continue;
        }
        if (p->i >= p->n)
            return xfrt_json_fail(p, "unterminated string");
        c = p->s[p->i++];
        static const char esc[] = "\"\\/bfnrt", val[] = "\"\\/\b\f\n\r\t";
        const char *e = c ? strchr(esc, (int)c) : NULL;
        unsigned long cp, lo;
        if (e) {
            xfrt_put_byte(out, cap, len, (unsigned char)val[e - esc]);
            continue;
        }
        if (c != 'u') {
            p->i--;
            return xfrt_json_fail(p, "bad escape in string");
        }
        if (xfrt_json_hex4(p, &cp) < 0)
            return -1;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return xfrt_json_fail(p, "unpaired low surrogate");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u')
                return xfrt_json_fail(p, "unpaired high surrogate");
            p->i += 2;
            if (xfrt_json_hex4(p, &lo) < 0)
                return -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                return xfrt_json_fail(p, "unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        xfrt_put_utf8(out, cap, len, cp);
    }
}

/* Skips the digits at p->i; returns how many there were. */
static inline size_t xfrt_json_digits(XfrtJson *p)
{
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
    return p->i - start;
}

/* Reads a number.  *is_uint: it is a plain non-negative integer that fits in
 * int64 (then *val holds it). */
static inline int xfrt_json_number(XfrtJson *p, uint64_t *val, int *is_uint)
{
    xfrt_json_ws(p);
    int ok = xfrt_json_peek(p) != '-';
    p->i += !ok;
    size_t start = p->i, n = xfrt_json_digits(p);
    if (n == 0 || (n > 1 && p->s[start] == '0'))
        return xfrt_json_fail(p, n ? "leading zero" : "expected a digit");
    uint64_t v = 0;
    for (size_t k = start; k < p->i; k++) {
        unsigned d = p->s[k] - '0';
        ok = ok && v <= ((uint64_t)INT64_MAX - d) / 10;
        v = v * 10 + d;
    }
    if (xfrt_json_peek(p) == '.') {
        ok = 0;
        p->i++;
        if (xfrt_json_digits(p) == 0)
            return xfrt_json_fail(p, "expected a digit after '.'");
    }
    if (xfrt_json_peek(p) == 'e' || xfrt_json_peek(p) == 'E') {
        ok = 0;
        p->i++;
        if (xfrt_json_peek(p) == '+' || xfrt_json_peek(p) == '-')
            p->i++;
        if (xfrt_json_digits(p) == 0)
            return xfrt_json_fail(p, "expected a digit in the exponent");
    }
    *val = v;
    *is_uint = ok;
    return 0;
}

static inline int xfrt_json_literal(XfrtJson *p, const char *word)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return xfrt_json_fail(p, "unexpected character");
    p->i += len;
    return 0;
}

/* Steps through the elements of an array or object whose opening bracket was
 * consumed: 1 when an element follows (its ',' consumed), 0 at the closing
 * bracket (consumed), -1 on an error.  *first starts at 1. */
static inline int xfrt_json_next(XfrtJson *p, int close, int *first)
{
    xfrt_json_ws(p);
    int c = xfrt_json_peek(p);
    if (c == close) {
        p->i++;
        return 0;
    }
    if (!*first) {
        if (c != ',')
            return xfrt_json_fail(p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        p->i++;
    }
    *first = 0;
    return 1;
}

/* An object key and its ':'. */
static inline int xfrt_json_key(XfrtJson *p, char *out, size_t cap, size_t *len)
{
    if (xfrt_json_string(p, out, cap, len) < 0)
        return -1;
    return xfrt_json_expect(p, ':', "expected ':'");
}

/* Validates and skips any value. */
static inline int xfrt_json_value(XfrtJson *p)
{
    xfrt_json_ws(p);
    int c = xfrt_json_peek(p), is_uint, first = 1, more;
    uint64_t u;
    size_t len;
    if (c == '"')
        return xfrt_json_string(p, NULL, 0, &len);
    if (c == '-' || (c >= '0' && c <= '9'))
        return xfrt_json_number(p, &u, &is_uint);
    if (c == 't' || c == 'f' || c == 'n')
        return xfrt_json_literal(p, c == 't' ? "true" : c == 'f' ? "false" : "null");
    if (c != '{' && c != '[')
        return xfrt_json_fail(p, c < 0 ? "unexpected end" : "unexpected character");
    if (++p->depth > XFRT_JSON_MAX_DEPTH)
        return xfrt_json_fail(p, "nested too deeply");
    p->i++;
    while ((more = xfrt_json_next(p, c == '{' ? '}' : ']', &first)) > 0)
        if ((c == '{' && xfrt_json_key(p, NULL, 0, &len) < 0) || xfrt_json_value(p) < 0)
            return -1;
    p->depth--;
    return more;
}

/* ---- the header's structure ---------------------------------------------- */

typedef struct {
    char  *buf;                 /* names storage */
    size_t used, cap;
} XfrtNames;

/* A structural error in tensor `name`'s entry. */
static inline int xfrt_st_sem(XfrtJson *p, const char *name, const char *what)
{
    if (!p->bad)
        xfrt_errf(p->err, p->err_size, "tensor %s: %s", name, what);
    p->bad = 1;
    return -1;
}

/* Skips a value of the wrong type, then reports it. */
static inline int xfrt_st_wrong(XfrtJson *p, const char *name, const char *what)
{
    return xfrt_json_value(p) < 0 ? -1 : xfrt_st_sem(p, name, what);
}

/* An array of at most max non-negative integers. */
static inline int xfrt_st_uints(XfrtJson *p, const char *name, const char *field, uint64_t *v,
                                int max, int *count)
{
    char msg[96];
    int first = 1, more, is_uint;
    snprintf(msg, sizeof msg, "%s is not a list of at most %d non-negative integers", field, max);
    *count = 0;
    xfrt_json_ws(p);
    if (xfrt_json_peek(p) != '[')
        return xfrt_st_wrong(p, name, msg);
    p->i++;
    while ((more = xfrt_json_next(p, ']', &first)) > 0) {
        xfrt_json_ws(p);
        int c = xfrt_json_peek(p);
        if (c != '-' && (c < '0' || c > '9'))
            return xfrt_st_wrong(p, name, msg);
        uint64_t u;
        if (xfrt_json_number(p, &u, &is_uint) < 0)
            return -1;
        if (!is_uint || *count >= max)
            return xfrt_st_sem(p, name, msg);
        v[(*count)++] = u;
    }
    return more;
}

/* Decodes a string value into the names storage, NUL-terminated. */
static inline char *xfrt_st_text(XfrtJson *p, XfrtNames *nm, const char *what)
{
    char *out = nm->buf + nm->used;
    size_t len;
    if (xfrt_json_string(p, out, nm->cap - nm->used, &len) < 0)
        return NULL;
    if (len >= nm->cap - nm->used || memchr(out, '\0', len)) {   /* the first cannot happen */
        xfrt_json_fail(p, what);
        return NULL;
    }
    out[len] = '\0';
    nm->used += len + 1;
    return out;
}

/* One tensor entry {"dtype": .., "shape": [..], "data_offsets": [b, e]}; other
 * keys are validated and ignored.  The dtype text goes to nm after the name. */
static inline int xfrt_st_entry(XfrtJson *p, XfrtTensorInfo *t, XfrtNames *nm)
{
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    int seen[3] = {0, 0, 0}, first = 1, more, count;
    char key[16], msg[64];
    uint64_t v[8];
    size_t len;
    xfrt_json_ws(p);
    if (xfrt_json_peek(p) != '{')
        return xfrt_st_wrong(p, t->name, "entry is not an object");
    p->i++;
    while ((more = xfrt_json_next(p, '}', &first)) > 0) {
        if (xfrt_json_key(p, key, sizeof key, &len) < 0)
            return -1;
        int f = -1;
        for (int k = 0; k < 3; k++)
            if (len == strlen(fields[k]) && memcmp(key, fields[k], len) == 0)
                f = k;
        if (f >= 0 && seen[f]++) {
            snprintf(msg, sizeof msg, "duplicate key \"%s\"", fields[f]);
            return xfrt_st_sem(p, t->name, msg);
        }
        if (f == 0) {
            xfrt_json_ws(p);
            if (xfrt_json_peek(p) != '"')
                return xfrt_st_wrong(p, t->name, "dtype is not a string");
            const char *dt = xfrt_st_text(p, nm, "NUL in a dtype");
            if (!dt)
                return -1;
            t->dtype = strcmp(dt, "F32") == 0    ? XFRT_DT_F32
                     : strcmp(dt, "BF16") == 0 ? XFRT_DT_BF16
                     : strcmp(dt, "F16") == 0  ? XFRT_DT_F16 : XFRT_DT_OTHER;
        } else if (f == 1) {
            if (xfrt_st_uints(p, t->name, "shape", v, 8, &count) < 0)
                return -1;
            t->rank = count;
            for (int k = 0; k < count; k++)
                t->dim[k] = (int64_t)v[k];
        } else if (f == 2) {
            if (xfrt_st_uints(p, t->name, "data_offsets", v, 2, &count) < 0)
                return -1;
            if (count != 2)
                return xfrt_st_sem(p, t->name, "data_offsets is not [begin, end]");
            t->begin = v[0];
            t->end = v[1];
        } else if (xfrt_json_value(p) < 0)
            return -1;
    }
    for (int k = 0; k < 3 && more == 0; k++)
        if (!seen[k]) {
            snprintf(msg, sizeof msg, "entry has no \"%s\"", fields[k]);
            return xfrt_st_sem(p, t->name, msg);
        }
    return more;
}

/* The whole header: an object of tensor entries (and __metadata__). */
static inline int xfrt_st_header(XfrtJson *p, XfrtSafetensors *st, XfrtNames *nm)
{
    int cap = 0, first = 1, more;
    if (xfrt_json_expect(p, '{', "expected '{'") < 0)
        return -1;
    while ((more = xfrt_json_next(p, '}', &first)) > 0) {
        size_t mark = nm->used;
        char *name = xfrt_st_text(p, nm, "NUL in a tensor name");
        if (!name || xfrt_json_expect(p, ':', "expected ':'") < 0)
            return -1;
        if (strcmp(name, "__metadata__") == 0) {
            nm->used = mark;
            if (xfrt_json_value(p) < 0)
                return -1;
            continue;
        }
        if (st->n_tensors == cap) {
            cap = cap ? 2 * cap : 16;
            void *grown = realloc(st->tensors, (size_t)cap * sizeof *st->tensors);
            if (!grown)
                return xfrt_json_fail(p, "out of memory");
            st->tensors = grown;
        }
        XfrtTensorInfo *t = &st->tensors[st->n_tensors++];
        memset(t, 0, sizeof *t);
        t->name = name;
        if (xfrt_st_entry(p, t, nm) < 0)
            return -1;
    }
    xfrt_json_ws(p);
    if (more == 0 && p->i != p->n)
        return xfrt_json_fail(p, "trailing characters after the header object");
    return more;
}

/* ---- checks on the parsed entries ---------------------------------------- */

static inline const char *xfrt_st_dtype(const XfrtTensorInfo *t)
{
    return t->name + strlen(t->name) + 1;   /* stored after the name */
}

static inline uint64_t xfrt_dtype_size(const char *dt)
{
    static const char *const names[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
                                        "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
                                        "I64", "U64", "F64", "C64"};
    static const unsigned char sizes[] = {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8, 8};
    for (size_t k = 0; k < sizeof sizes; k++)
        if (strcmp(dt, names[k]) == 0)
            return sizes[k];
    return 0;
}

static inline void xfrt_shape_str(char *buf, size_t size, int rank, const int64_t *dim)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k <= rank && used < size; k++) {
        int w = k == rank ? snprintf(buf + used, size - used, "]")
                          : snprintf(buf + used, size - used, "%s%lld", k ? ", " : "[",
                                     (long long)dim[k]);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

static inline int xfrt_st_cmp_name(const void *a, const void *b)
{
    return strcmp(((const XfrtTensorInfo *)a)->name, ((const XfrtTensorInfo *)b)->name);
}

static inline int xfrt_st_cmp_begin(const void *a, const void *b)
{
    const XfrtTensorInfo *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end != y->end ? (x->end < y->end ? -1 : 1) : strcmp(x->name, y->name);
}

static inline int xfrt_st_check(XfrtSafetensors *st, char *err, size_t err_size)
{
    char shape[256];
    for (int k = 0; k < st->n_tensors; k++) {
        const XfrtTensorInfo *t = &st->tensors[k];
        uint64_t size = xfrt_dtype_size(xfrt_st_dtype(t)), bytes = size;
        if (size == 0)
            return xfrt_errf(err, err_size, "tensor %s: unknown dtype %s", t->name,
                             xfrt_st_dtype(t));
        for (int d = 0; d < t->rank; d++) {
            uint64_t dim = (uint64_t)t->dim[d];
            if (dim != 0 && bytes > UINT64_MAX / dim)
                return xfrt_errf(err, err_size, "tensor %s: shape too large", t->name);
            bytes *= dim;
        }
        if (t->begin > t->end)
            return xfrt_errf(err, err_size, "tensor %s: data_offsets [%llu, %llu] are reversed "
                             "(end before begin)", t->name, (unsigned long long)t->begin,
                             (unsigned long long)t->end);
        if (t->end > st->data_size)
            return xfrt_errf(err, err_size,
                             "tensor %s: data_offsets [%llu, %llu] outside the data (%zu bytes)",
                             t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                             st->data_size);
        if (t->end - t->begin != bytes) {
            xfrt_shape_str(shape, sizeof shape, t->rank, t->dim);
            return xfrt_errf(err, err_size, "tensor %s: data_offsets [%llu, %llu] hold %llu "
                             "bytes, %s %s needs %llu", t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                             (unsigned long long)(t->end - t->begin), xfrt_st_dtype(t), shape,
                             (unsigned long long)bytes);
        }
    }
    if (st->n_tensors == 0)
        return 0;
    size_t n = (size_t)st->n_tensors;
    /* duplicates first: two entries of one name are that, whatever their offsets */
    qsort(st->tensors, n, sizeof *st->tensors, xfrt_st_cmp_name);
    for (size_t k = 1; k < n; k++)
        if (strcmp(st->tensors[k - 1].name, st->tensors[k].name) == 0)
            return xfrt_errf(err, err_size, "tensor %s: duplicate name", st->tensors[k].name);
    qsort(st->tensors, n, sizeof *st->tensors, xfrt_st_cmp_begin);
    const XfrtTensorInfo *last = NULL;      /* the non-empty range reaching furthest */
    for (size_t k = 0; k < n; k++) {
        const XfrtTensorInfo *t = &st->tensors[k];
        if (t->begin == t->end)
            continue;
        if (last && last->end > t->begin)
            return xfrt_errf(err, err_size, "tensors %s and %s overlap", last->name, t->name);
        if (!last || t->end > last->end)
            last = t;
    }
    qsort(st->tensors, n, sizeof *st->tensors, xfrt_st_cmp_name);
    return 0;
}

/* ---- the public API ------------------------------------------------------- */

XFRT_API void xfrt_st_close(XfrtSafetensors *st)
{
    if (st->map)
        munmap(st->map, st->map_size);
    for (int k = 0; k < st->n_copies; k++)
        free(st->copies[k]);
    free(st->copies);
    free(st->tensors);
    free(st->names);
    memset(st, 0, sizeof *st);
}

XFRT_API int xfrt_st_open(XfrtSafetensors *st, const char *path, char *err, size_t err_size)
{
    memset(st, 0, sizeof *st);
    /* Only a regular file is read.  stat first, so a device or FIFO is never
     * opened at all; O_NONBLOCK in case the path changed in between (a FIFO
     * would block open(2) until a writer came); fstat decides. */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return xfrt_errf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return xfrt_errf(err, err_size, "%s: not a regular file", path);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return xfrt_errf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return xfrt_errf(err, err_size, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return xfrt_errf(err, err_size, "%s: file too short (%lld bytes)", path,
                         (long long)sb.st_size);
    }
    if ((uintmax_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return xfrt_errf(err, err_size, "%s: file too large to map", path);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return xfrt_errf(err, err_size, "%s: cannot map the file: %s", path, strerror(map_errno));
    st->map = map;
    st->map_size = (size_t)sb.st_size;

    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--)
        hlen = hlen << 8 | st->map[k];
    if (hlen > st->map_size - 8) {
        xfrt_errf(err, err_size, "header length %llu past the end of the file (%zu bytes)",
                  (unsigned long long)hlen, st->map_size);
        xfrt_st_close(st);
        return -1;
    }
    st->data = st->map + 8 + hlen;
    st->data_size = st->map_size - 8 - (size_t)hlen;

    /* Decoded text never exceeds its encoding, and each string's quotes make
     * room for its NUL, so hlen bytes hold every name and dtype. */
    unsigned char *text = malloc((size_t)hlen + 1);
    XfrtNames nm = {malloc((size_t)hlen + 1), 0, (size_t)hlen + 1};
    st->names = nm.buf;
    if (!text || !nm.buf) {
        free(text);
        xfrt_st_close(st);
        xfrt_errf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(text, st->map + 8, (size_t)hlen);
    XfrtJson p = {text, (size_t)hlen, 0, 0, 0, err, err_size};
    int rc = xfrt_st_header(&p, st, &nm);
    free(text);
    if (rc == 0)
        rc = xfrt_st_check(st, err, err_size);
    if (rc != 0) {
        xfrt_st_close(st);
        return -1;
    }
    return 0;
}

/* Finds tensor `name` with exactly the shape dims[rank] and an accepted dtype. */
static inline const XfrtTensorInfo *xfrt_st_find(const XfrtSafetensors *st, const char *name,
                                                 int rank, const int64_t *dims, char *err,
                                                 size_t err_size)
{
    int lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(st->tensors[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == st->n_tensors || strcmp(st->tensors[lo].name, name) != 0) {
        xfrt_errf(err, err_size, "tensor %s: missing", name);
        return NULL;
    }
    const XfrtTensorInfo *t = &st->tensors[lo];
    if (t->dtype == XFRT_DT_OTHER) {
        xfrt_errf(err, err_size, "tensor %s: dtype %s, expected F32, BF16 or F16", name,
                  xfrt_st_dtype(t));
        return NULL;
    }
    int same = t->rank == rank;
    for (int k = 0; same && k < rank; k++)
        same = t->dim[k] == dims[k];
    if (!same) {
        char have[256], want[256];
        xfrt_shape_str(have, sizeof have, t->rank, t->dim);
        xfrt_shape_str(want, sizeof want, rank < 0 ? 0 : rank > 8 ? 8 : rank, dims);
        xfrt_errf(err, err_size, "tensor %s: shape %s expected %s", name, have, want);
        return NULL;
    }
    return t;
}

/* A new buffer of bytes (at least 4), owned by st; NULL when out of memory. */
static inline void *xfrt_st_own(XfrtSafetensors *st, size_t bytes)
{
    void **grown = realloc(st->copies, (size_t)(st->n_copies + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    st->copies = grown;
    void *copy = malloc(bytes > sizeof(float) ? bytes : sizeof(float));
    if (copy)
        st->copies[st->n_copies++] = copy;
    return copy;
}

static inline size_t xfrt_st_count(const XfrtTensorInfo *t)
{
    return (size_t)(t->end - t->begin) / (t->dtype == XFRT_DT_F32 ? 4u : 2u);
}

/* The tensor's values as fp32: the mapped data when it is F32 and aligned. */
static inline const float *xfrt_st_values(XfrtSafetensors *st, const XfrtTensorInfo *t,
                                          int force_copy)
{
    const unsigned char *src = st->data + t->begin;
    if (t->dtype == XFRT_DT_F32 && !force_copy && (uintptr_t)src % sizeof(float) == 0)
        return (const float *)(const void *)src;
    size_t count = xfrt_st_count(t);
    float *copy = xfrt_st_own(st, count * sizeof(float));
    if (!copy)
        return NULL;
    if (t->dtype == XFRT_DT_F32) {
        memcpy(copy, src, count * sizeof(float));
        return copy;
    }
    for (size_t i = 0; i < count; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, sizeof h);
        copy[i] = t->dtype == XFRT_DT_BF16 ? xfrt_bf16_widen(h) : xfrt_f16_widen(h);
    }
    return copy;
}

XFRT_API int xfrt_st_get(XfrtSafetensors *st, const char *name, int rank, const int64_t *dims,
                         const float **out, char *err, size_t err_size)
{
    *out = NULL;
    const XfrtTensorInfo *t = xfrt_st_find(st, name, rank, dims, err, err_size);
    if (!t)
        return -1;
    *out = xfrt_st_values(st, t, 0);
    return *out ? 0 : xfrt_errf(err, err_size, "tensor %s: out of memory", name);
}

XFRT_API int xfrt_st_get_raw(XfrtSafetensors *st, const char *name, int rank,
                             const int64_t *dims, const void **data, int *dtype, char *err,
                             size_t err_size)
{
    *data = NULL;
    *dtype = XFRT_DT_OTHER;
    const XfrtTensorInfo *t = xfrt_st_find(st, name, rank, dims, err, err_size);
    if (!t)
        return -1;
    const unsigned char *src = st->data + t->begin;
    size_t size = t->dtype == XFRT_DT_F32 ? 4u : 2u, bytes = (size_t)(t->end - t->begin);
    *dtype = t->dtype;
    if ((uintptr_t)src % size == 0) {
        *data = src;
        return 0;
    }
    void *copy = xfrt_st_own(st, bytes);
    if (!copy)
        return xfrt_errf(err, err_size, "tensor %s: out of memory", name);
    memcpy(copy, src, bytes);
    *data = copy;
    return 0;
}

/* ---- --weights, for now as fp32 values (the interim storage) -------------
 * One place converts a matrix to the values w' its format stands for; the
 * kernels read fp32 as ever.  Storing the compact forms instead (bf16
 * halves, q8 blocks with their scales) replaces only this function and the
 * readers of those matrices. */
XFRT_API int xfrt_st_get_for(XfrtSafetensors *st, const char *name, int rank, const int64_t *dims,
                             int fmt, const float **out, char *err, size_t err_size)
{
    if (xfrt_st_get(st, name, rank, dims, out, err, err_size) != 0)
        return -1;
    if (fmt == XFRT_WF_Q8) {
        size_t count = 1;
        for (int i = 0; i < rank; i++)
            count *= (size_t)dims[i];
        for (size_t i = 0; i < count; i++)          /* a scale needs finite values */
            if (!isfinite((*out)[i])) {
                float v = (*out)[i];
                *out = NULL;
                return xfrt_errf(err, err_size, "tensor %s: element %zu is %g; --weights q8 "
                                 "needs finite values", name, i, (double)v);
            }
    }
    return 0;
}

XFRT_API int xfrt_st_get_converted(XfrtSafetensors *st, const char *name, int rank,
                                   const int64_t *dims, int fmt, const float **out, char *err,
                                   size_t err_size)
{
    *out = NULL;
    if (fmt == XFRT_WF_F32)
        return xfrt_st_get(st, name, rank, dims, out, err, err_size);
    const float *v;
    if (xfrt_st_get_for(st, name, rank, dims, fmt, &v, err, err_size) != 0)
        return -1;
    const XfrtTensorInfo *t = xfrt_st_find(st, name, rank, dims, err, err_size);
    if (!t)
        return -1;
    float *w = (float *)xfrt_st_values(st, t, 1);   /* a copy of its own, converted in place */
    if (!w)
        return xfrt_errf(err, err_size, "tensor %s: out of memory", name);
    xfrt_wf_apply(w, xfrt_st_count(t), rank > 0 ? (int)dims[rank - 1] : 1, fmt);
    *out = w;
    return 0;
}
