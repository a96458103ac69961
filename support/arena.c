/* arena.c - chunked bump allocator and abort-on-OOM heap helpers. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

typedef struct Chunk {
    struct Chunk *next;
    size_t        size, used;
    _Alignas(16) unsigned char data[];
} Chunk;

struct XfArena {
    Chunk *head;
};

void *xf_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        fputs("xfc: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xf_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fputs("xfc: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xf_xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p) {
        fputs("xfc: out of memory\n", stderr);
        abort();
    }
    return p;
}

XfArena *xf_arena_new(void) { return xf_xcalloc(1, sizeof(XfArena)); }

void xf_arena_reset(XfArena *a)
{
    Chunk *c = a->head;
    while (c) {
        Chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void xf_arena_free(XfArena *a)
{
    if (!a)
        return;
    xf_arena_reset(a);
    free(a);
}

void *xf_arena_alloc(XfArena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (!a->head || a->head->size - a->head->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        Chunk *c = xf_xmalloc(sizeof(Chunk) + cap);
        c->next = a->head;
        c->size = cap;
        c->used = 0;
        a->head = c;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += size;
    memset(p, 0, size);
    return p;
}

char *xf_arena_strndup(XfArena *a, const char *s, size_t n)
{
    char *p = xf_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xf_arena_strdup(XfArena *a, const char *s) { return xf_arena_strndup(a, s, strlen(s)); }

char *xf_arena_printf(XfArena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = xf_arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void xf_vec_grow_(XfArena *a, void **data, size_t *cap, size_t elem, size_t need)
{
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    if (a) {
        void *p = xf_arena_alloc(a, ncap * elem);
        if (*data)
            memcpy(p, *data, *cap * elem);
        *data = p;
    } else {
        *data = xf_xrealloc(*data, ncap * elem);
    }
    *cap = ncap;
}
