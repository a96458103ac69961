/* xfrt_lanes.h - the dot-product lanes every kernel file shares (internal to
 * the runtime; embedded once into generated code, after xfrt.h).
 *
 * xfrt_dot (attention scores, the sparse FFN) accumulates in XFRT_LANES
 * independent lanes and sums them in one fixed tree, so a given output element
 * gets the same bits whichever thread or call computed it.  The matrix
 * products have their own kernels (xfrt_gemm.h). */
#ifndef XFRT_LANES_H
#define XFRT_LANES_H

#include <string.h>

#define XFRT_LANES 8
#if (defined(__GNUC__) || defined(__clang__)) && !defined(XFRT_PLAIN_C)
/* GCC and Clang keep vector-typed accumulators in registers, which they do not
 * reliably do for float arrays; other compilers get the plain C below, which
 * computes exactly the same sums. */
typedef float XfrtLanes __attribute__((vector_size(XFRT_LANES * sizeof(float))));
#define XFRT_INLINE __attribute__((always_inline)) static inline
/* Macros on lvalues: vectors never pass by value (that would raise -Wpsabi
 * where AVX is off), and nothing takes their address in the hot loops. */
#define XFRT_LZERO(a) ((a) = (XfrtLanes){0})
#define XFRT_LLOAD(a, p) memcpy(&(a), (p), sizeof(XfrtLanes))
#define XFRT_LFMA(acc, a, b) ((acc) = (a) * (b) + (acc))
static inline float xfrt_lanes_sum(const XfrtLanes *a)
{
    XfrtLanes v = *a;
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}
#else
typedef struct {
    float v[XFRT_LANES];
} XfrtLanes;
#define XFRT_INLINE static inline
static inline void xfrt_lanes_fma(XfrtLanes *acc, const XfrtLanes *a, const XfrtLanes *b)
{
    for (int j = 0; j < XFRT_LANES; j++)
        acc->v[j] = a->v[j] * b->v[j] + acc->v[j];
}
#define XFRT_LZERO(a) memset(&(a), 0, sizeof(XfrtLanes))
#define XFRT_LLOAD(a, p) memcpy(&(a), (p), sizeof(XfrtLanes))
#define XFRT_LFMA(acc, a, b) xfrt_lanes_fma(&(acc), &(a), &(b))
static inline float xfrt_lanes_sum(const XfrtLanes *a)
{
    const float *v = a->v;
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}
#endif
/* The first len (< XFRT_LANES) floats at p, zero-padded. */
#define XFRT_LTAIL(a, p, len) \
    (XFRT_LZERO(a), memcpy(&(a), (p), (size_t)(len) * sizeof(float)))
/* x . w over len floats: lane j sums the elements k = j mod XFRT_LANES in
 * order (the tail zero-padded), then the lanes add up in one fixed tree. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))     /* only the sparse FFN's units use it */
#endif
static inline float xfrt_dot(const float *x, const float *w, int len)
{
    XfrtLanes acc, a, b;
    XFRT_LZERO(acc);
    int k = 0;
    for (; k + XFRT_LANES <= len; k += XFRT_LANES) {
        XFRT_LLOAD(a, x + k);
        XFRT_LLOAD(b, w + k);
        XFRT_LFMA(acc, a, b);
    }
    if (k < len) {
        XFRT_LTAIL(a, x + k, len - k);
        XFRT_LTAIL(b, w + k, len - k);
        XFRT_LFMA(acc, a, b);
    }
    return xfrt_lanes_sum(&acc);
}

#endif
