/* rt_test.h - small helpers shared by the runtime tests: a portable random
 * generator, and building safetensors files byte by byte. */
#ifndef XF_RT_TEST_H
#define XF_RT_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uint64_t s;
} RtRng;

static inline uint64_t rt_next(RtRng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static inline float rt_uniform(RtRng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)((double)(rt_next(r) >> 40) / (double)(1u << 24));
}

static inline int rt_below(RtRng *r, int n) { return (int)(rt_next(r) % (uint64_t)n); }

static inline void rt_fill(RtRng *r, float *x, size_t count, float lo, float hi)
{
    for (size_t i = 0; i < count; i++)
        x[i] = rt_uniform(r, lo, hi);
}

/* A file in the build directory, unique to this process and tag. */
static inline void rt_tmp_path(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "%s/rt_%s_%ld.safetensors", XF_BINARY_DIR, tag, (long)getpid());
}

static inline void rt_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

/* The bytes of a safetensors file: 8-byte header length, the header padded
 * with `pad` spaces, then `data`.  Caller frees. */
static inline unsigned char *rt_st_bytes(const char *header, size_t pad, const void *data,
                                         size_t data_size, size_t *size)
{
    size_t hlen = strlen(header) + pad;
    *size = 8 + hlen + data_size;
    unsigned char *buf = malloc(*size ? *size : 1);
    for (int k = 0; k < 8; k++)
        buf[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    memcpy(buf + 8, header, strlen(header));
    memset(buf + 8 + strlen(header), ' ', pad);
    if (data_size)
        memcpy(buf + 8 + hlen, data, data_size);
    return buf;
}

static inline void rt_st_write(const char *path, const char *header, size_t pad, const void *data,
                               size_t data_size)
{
    size_t size;
    unsigned char *buf = rt_st_bytes(header, pad, data, data_size, &size);
    rt_write(path, buf, size);
    free(buf);
}

#endif
