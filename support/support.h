/* support.h - arenas, growable vectors, string buffers and diagnostics shared by
 * every compiler stage.  Nothing here knows about models or tensors. */
#ifndef XF_SUPPORT_H
#define XF_SUPPORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#define XF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define XF_NORETURN __attribute__((noreturn))
#else
#define XF_PRINTF(f, a)
#define XF_NORETURN
#endif

/* ---- arena.c ------------------------------------------------------------ */

/* A bump allocator made of chunks.  Everything allocated from an arena is
 * freed at once by xf_arena_free; nothing is freed one at a time. */
typedef struct XfArena XfArena;

XfArena *xf_arena_new(void);
void     xf_arena_free(XfArena *a);
void     xf_arena_reset(XfArena *a);                 /* frees all but keeps the arena */
void    *xf_arena_alloc(XfArena *a, size_t size);    /* zeroed, 16-byte aligned */
char    *xf_arena_strdup(XfArena *a, const char *s);
char    *xf_arena_strndup(XfArena *a, const char *s, size_t n);
char    *xf_arena_printf(XfArena *a, const char *fmt, ...) XF_PRINTF(2, 3);

/* Heap helpers that abort on out-of-memory (the compiler has no recovery). */
void *xf_xmalloc(size_t size);
void *xf_xcalloc(size_t n, size_t size);
void *xf_xrealloc(void *p, size_t size);

/* ---- vec.h-style growable arrays ------------------------------------------
 * XF_VEC(int) v = {0};  xf_vec_push(NULL, &v, 3);  ... xf_vec_free(NULL, &v);
 * With an arena, growth copies into the arena (old storage is left to it);
 * with NULL, the heap is used and xf_vec_free releases it. */
#define XF_VEC(T) struct { T *data; size_t len, cap; }

void xf_vec_grow_(XfArena *a, void **data, size_t *cap, size_t elem, size_t need);

#define xf_vec_push(arena, v, x)                                                      \
    do {                                                                              \
        if ((v)->len == (v)->cap)                                                     \
            xf_vec_grow_((arena), (void **)&(v)->data, &(v)->cap, sizeof(*(v)->data), \
                         (v)->len + 1);                                               \
        (v)->data[(v)->len++] = (x);                                                  \
    } while (0)

#define xf_vec_free(arena, v)                   \
    do {                                        \
        if (!(arena)) free((v)->data);          \
        (v)->data = NULL;                       \
        (v)->len = (v)->cap = 0;                \
    } while (0)

/* ---- strbuf.c ----------------------------------------------------------- */

typedef struct {
    char  *data;            /* always NUL-terminated once anything was added */
    size_t len, cap;
} XfStrBuf;

void xf_sb_printf(XfStrBuf *sb, const char *fmt, ...) XF_PRINTF(2, 3);
void xf_sb_vprintf(XfStrBuf *sb, const char *fmt, va_list ap);
void xf_sb_puts(XfStrBuf *sb, const char *s);
void xf_sb_putn(XfStrBuf *sb, const char *s, size_t n);
void xf_sb_free(XfStrBuf *sb);

/* Writes data to path atomically: a temporary file in the same directory is
 * written, flushed and renamed.  Returns false and fills err on failure; no
 * partial file is ever left at path. */
bool xf_write_file_atomic(const char *path, const void *data, size_t size,
                          char *err, size_t err_size);

/* Writes n files together: each to a temporary beside it, and only when all
 * of them are complete, renames them over their targets (a target that
 * exists must be a file).  On failure no target was touched and no
 * temporary is left; err says why. */
bool xf_write_files_atomic(int n, const char *const *paths, const void *const *data,
                           const size_t *sizes, char *err, size_t err_size);

/* Reads a whole file into a NUL-terminated heap buffer; NULL on failure. */
char *xf_read_file(const char *path, size_t *size);

/* ---- diag.c ------------------------------------------------------------- */

/* A position in the .xf source: 1-based line and column (bytes), and the
 * length of the token it names (for the ~~~ underline).  line 0 = unknown. */
typedef struct {
    uint32_t line, col, len;
} XfLoc;

typedef struct {
    const char *path;       /* as given on the command line */
    const char *src;        /* whole source text (borrowed) */
    size_t      src_len;
    FILE       *out;        /* stderr unless a test redirects it */
    int         n_errors;
    int         max_errors; /* stop reporting after this many (20) */
} XfDiag;

void xf_diag_init(XfDiag *d, const char *path, const char *src, size_t src_len, FILE *out);
/* Prints "path:line:col: error: msg", the source line and a caret. */
void xf_diag_error(XfDiag *d, XfLoc loc, const char *fmt, ...) XF_PRINTF(3, 4);
void xf_diag_note(XfDiag *d, XfLoc loc, const char *fmt, ...) XF_PRINTF(3, 4);

/* Bugs in xfc (not user errors) */
XF_NORETURN void xf_internal_error(const char *file, int line, const char *what);
#define XF_ASSERT(c) ((c) ? (void)0 : xf_internal_error(__FILE__, __LINE__, #c))
#define xf_unreachable() xf_internal_error(__FILE__, __LINE__, "unreachable")

/* ---- numbers.c ------------------------------------------------------------ */

/* An exact non-negative decimal, value = num / den (den a power of ten). */
typedef struct {
    int64_t num, den;
} XfRatio;

/* Parses a decimal literal ("0.125", "1.25e-1", "3") exactly; false when it is
 * negative-exponent-too-large, overflows, or is not a decimal. */
bool xf_ratio_parse(const char *text, XfRatio *out);
/* ceil(r * a / b) computed exactly; returns -1 on overflow. */
int64_t xf_ratio_ceil_mul(XfRatio r, int64_t a, int64_t b);
/* Overflow-checked products and sums for shapes, sizes and counts: true on
 * overflow (then *out is unspecified). */
bool xf_mul_overflow(int64_t a, int64_t b, int64_t *out);
bool xf_add_overflow(int64_t a, int64_t b, int64_t *out);

#endif
