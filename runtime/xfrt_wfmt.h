/* xfrt_wfmt.h - the weight formats of --weights (internal to the runtime;
 * embedded once into generated code, after xfrt.h).
 *
 * Exact conversions, as xfc's docs/semantics.md fixes them:
 *   widening a file's BF16 or F16 value to fp32 (exact, subnormals included);
 *   bf16: an fp32 value rounded to the nearest bfloat16, ties to even;
 *   q8: a row cut into blocks of XFRT_Q8_BLOCK elements (the last possibly
 *   shorter), each with scale s = max|w| / 127 and q = round(w / s), halves
 *   away from zero, clamped to [-127, 127]; the value used is q * s.
 * The kernels read these forms directly; the reference in tests/reference
 * applies the same rules in PyTorch. */
#ifndef XFRT_WFMT_H
#define XFRT_WFMT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define XFRT_WF_FN static inline __attribute__((unused))    /* a model may use none of them */
#else
#define XFRT_WF_FN static inline
#endif

enum { XFRT_WF_F32, XFRT_WF_BF16, XFRT_WF_Q8 };

#define XFRT_Q8_BLOCK 32

XFRT_WF_FN float xfrt_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

XFRT_WF_FN uint32_t xfrt_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

XFRT_WF_FN float xfrt_bf16_widen(uint16_t h) { return xfrt_bits_f32((uint32_t)h << 16); }

/* Round to nearest even; NaN stays a (quiet) NaN of the same sign, and a
 * finite value past the largest bfloat16 rounds to infinity, as IEEE says. */
XFRT_WF_FN uint16_t xfrt_bf16_round(float f)
{
    uint32_t u = xfrt_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

XFRT_WF_FN float xfrt_f16_widen(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f)                      /* infinity or NaN */
        return xfrt_bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) {                       /* zero or subnormal: m * 2^-24, exact */
        float v = (float)m * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return xfrt_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

/* One block of len (1..XFRT_Q8_BLOCK) weights: q[0..len) and the scale. */
XFRT_WF_FN float xfrt_q8_block(const float *w, int len, int8_t *q)
{
    float amax = 0.0f;
    for (int i = 0; i < len; i++)
        amax = fabsf(w[i]) > amax ? fabsf(w[i]) : amax;
    float s = amax / 127.0f;
    for (int i = 0; i < len; i++) {
        float r = s == 0.0f ? 0.0f : roundf(w[i] / s);
        q[i] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r);
    }
    return s;
}

/* A row of cols weights: q[cols], scale[ceil(cols / XFRT_Q8_BLOCK)]. */
XFRT_WF_FN void xfrt_q8_row(const float *w, int cols, int8_t *q, float *scale)
{
    for (int b = 0, k = 0; k < cols; b++, k += XFRT_Q8_BLOCK)
        scale[b] = xfrt_q8_block(w + k, cols - k < XFRT_Q8_BLOCK ? cols - k : XFRT_Q8_BLOCK, q + k);
}

/* The value a q8 weight stands for: q * s in fp32 (0 when s = 0). */
XFRT_WF_FN float xfrt_q8_value(int8_t q, float s) { return (float)q * s; }

/* count values in rows of cols, in place: each replaced by its w' in format
 * fmt (XFRT_WF_F32: unchanged).  q8 values must be finite. */
XFRT_WF_FN void xfrt_wf_apply(float *w, size_t count, int cols, int fmt)
{
    if (fmt == XFRT_WF_BF16) {
        for (size_t i = 0; i < count; i++)
            w[i] = xfrt_bf16_widen(xfrt_bf16_round(w[i]));
    } else if (fmt == XFRT_WF_Q8 && cols > 0) {
        int8_t q[XFRT_Q8_BLOCK];
        for (size_t r = 0; r + (size_t)cols <= count; r += (size_t)cols)
            for (int k = 0; k < cols; k += XFRT_Q8_BLOCK) {
                int len = cols - k < XFRT_Q8_BLOCK ? cols - k : XFRT_Q8_BLOCK;
                float s = xfrt_q8_block(w + r + k, len, q);
                for (int t = 0; t < len; t++)
                    w[r + k + t] = xfrt_q8_value(q[t], s);
            }
    }
}

#endif
