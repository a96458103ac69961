/* xfrt_gemm.h - the matrix-product micro-kernels (internal to the runtime;
 * embedded once into generated code, after xfrt_isa.h, xfrt_wfmt.h and
 * xfrt_lanes.h).
 *
 * One register-blocked outer-product kernel, written once over a small vector
 * layer per ISA (xfrt_isa.h picks it when the generated C is compiled):
 *
 *   ISA        vector   XFRT_NR (panel)   GEMM tile        skinny (n <= 4)
 *   AVX-512    16 x f32   32 = 2 zmm       12 rows x 32     n rows x 4 panels
 *   AVX2+FMA    8 x f32   16 = 2 ymm        6 rows x 16     n rows x 1..4 panels
 *   NEON        4 x f32    8 = 2 q          8 rows x 8      n rows x 4 panels
 *   plain C     4 x f32    8 (loops)        4 rows x 8      n rows x 2 panels
 *
 * The kernel reads A (rows of x, packed row by row: a[r * XFRT_KC + k]) and B (the
 * weights' panels, XfrtMat in xfrt.h) and keeps R x P x 2 vector accumulators
 * in registers; each k broadcasts one x per row and multiply-adds it into the
 * panel's two vectors.  fp32 panels are read as they are; bf16 panels are
 * widened in registers (a 16-bit shift).  A q8 panel is summed per block of
 * XFRT_Q8_BLOCK k's: T = sum of q * x over the block (q widened to fp32 in
 * registers), then c = s * T + c with the block's per-row scale s, so the
 * scale costs one multiply-add per block instead of one multiply per weight
 * (w' x = q s x: the same products, the scale factored out of the block's
 * sum, which changes results only within float rounding).
 *
 * Determinism: every output element is ONE chain of multiply-adds over
 * k = 0, 1, ..., in-1, in order, starting from 0 (q8: one chain over the
 * blocks, in order, of chains over each block's k's, in order).  K-blocking stores the chain
 * to memory between blocks and loads it back, which changes no bit; the tile
 * shape, the panel group, the blocking and the thread only decide which chain
 * runs where.  So y[i, o] has the same bits for any thread count, any n, in a
 * fused or an unfused product, batched or alone; across ISAs (and compilers'
 * contraction rules in the plain path) results agree within float rounding. */
#ifndef XFRT_GEMM_H
#define XFRT_GEMM_H

#include <string.h>

#include "xfrt_isa.h"
#include "xfrt_vmath.h"

/* loops over a tile's rows and panels run fully unrolled, so the
 * accumulators live in registers */
#if defined(__clang__)
#define XFRT_UNROLL XFRT_PRAGMA(unroll)
#define XFRT_GEMM_INLINE __attribute__((always_inline)) static inline
#define XFRT_PREFETCH(p) __builtin_prefetch(p)
#elif defined(__GNUC__)
#define XFRT_UNROLL XFRT_PRAGMA(GCC unroll 16)
#define XFRT_GEMM_INLINE __attribute__((always_inline)) static inline
#define XFRT_PREFETCH(p) __builtin_prefetch(p)
#else
#define XFRT_UNROLL
#define XFRT_GEMM_INLINE static inline
#define XFRT_PREFETCH(p) ((void)(p))
#endif

/* ---- the vector layer: XfrtV and XFRT_VW are xfrt_vmath.h's ---------------- */
#if XFRT_ISA_AVX512
#define XFRT_MR 12
#define XFRT_SKINNY_P 4
#define XFRT_ACC 16   /* vector registers for a skinny kernel's accumulators */
#define XV_ZERO_INIT _mm512_setzero_ps()
#define XV_ZERO(v) ((v) = _mm512_setzero_ps())
#define XV_LOAD(v, p) ((v) = _mm512_loadu_ps(p))
#define XV_STORE(p, v) _mm512_storeu_ps((p), (v))
#define XV_FMAS(acc, s, b) ((acc) = _mm512_fmadd_ps(_mm512_set1_ps(s), (b), (acc)))
#define XV_MUL(v, a, b) ((v) = _mm512_mul_ps((a), (b)))
/* XFRT_NR bf16 / int8 values at p into two vectors */
#define XV_LOAD2_BF16(v0, v1, p)                                                                   \
    do {                                                                                           \
        __m512i xv_w_ = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p))); \
        __m512i xv_x_ = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)((p) + 32))); \
        (v0) = _mm512_castsi512_ps(_mm512_slli_epi32(xv_w_, 16));                                  \
        (v1) = _mm512_castsi512_ps(_mm512_slli_epi32(xv_x_, 16));                                  \
    } while (0)
#define XV_LOAD2_Q8(v0, v1, p)                                                                     \
    do {                                                                                           \
        (v0) = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p)))); \
        (v1) = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)((p) + 16)))); \
    } while (0)
#elif XFRT_ISA_AVX2
#define XFRT_MR 6
#define XFRT_SKINNY_P 4
#define XFRT_ACC 8   /* vector registers for a skinny kernel's accumulators */
#define XV_ZERO_INIT _mm256_setzero_ps()
#define XV_ZERO(v) ((v) = _mm256_setzero_ps())
#define XV_LOAD(v, p) ((v) = _mm256_loadu_ps(p))
#define XV_STORE(p, v) _mm256_storeu_ps((p), (v))
#define XV_FMAS(acc, s, b) ((acc) = _mm256_fmadd_ps(_mm256_set1_ps(s), (b), (acc)))
#define XV_MUL(v, a, b) ((v) = _mm256_mul_ps((a), (b)))
#define XV_LOAD2_BF16(v0, v1, p)                                                                   \
    do {                                                                                           \
        __m256i xv_w_ = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))); \
        __m256i xv_x_ = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)((p) + 16))); \
        (v0) = _mm256_castsi256_ps(_mm256_slli_epi32(xv_w_, 16));                                  \
        (v1) = _mm256_castsi256_ps(_mm256_slli_epi32(xv_x_, 16));                                  \
    } while (0)
#define XV_LOAD2_Q8(v0, v1, p)                                                                     \
    do {                                                                                           \
        (v0) = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p)))); \
        (v1) = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)((p) + 8)))); \
    } while (0)
#elif XFRT_ISA_NEON
#define XFRT_MR 8
#define XFRT_SKINNY_P 4
#define XFRT_ACC 16   /* vector registers for a skinny kernel's accumulators */
#define XV_ZERO_INIT vdupq_n_f32(0.0f)
#define XV_ZERO(v) ((v) = vdupq_n_f32(0.0f))
#define XV_LOAD(v, p) ((v) = vld1q_f32(p))
#define XV_STORE(p, v) vst1q_f32((p), (v))
#define XV_FMAS(acc, s, b) ((acc) = vfmaq_n_f32((acc), (b), (s)))
#define XV_MUL(v, a, b) ((v) = vmulq_f32((a), (b)))
#define XV_LOAD2_BF16(v0, v1, p)                                                                   \
    do {                                                                                           \
        uint16x8_t xv_h_ = vld1q_u16((const uint16_t *)(const void *)(p));                          \
        (v0) = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(xv_h_), 16));                       \
        (v1) = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(xv_h_), 16));                      \
    } while (0)
#define XV_LOAD2_Q8(v0, v1, p)                                                                     \
    do {                                                                                           \
        int16x8_t xv_h_ = vmovl_s8(vld1_s8((const int8_t *)(const void *)(p)));                    \
        (v0) = vcvtq_f32_s32(vmovl_s16(vget_low_s16(xv_h_)));                                     \
        (v1) = vcvtq_f32_s32(vmovl_s16(vget_high_s16(xv_h_)));                                    \
    } while (0)
#else   /* plain C11: loops over XFRT_VW floats that compilers vectorize */
#define XFRT_MR 4
#define XFRT_SKINNY_P 2
#define XFRT_ACC 8   /* vector registers for a skinny kernel's accumulators */
#define XV_ZERO_INIT XFRT_V_ZERO_INIT
#define XV_ZERO(a) memset(&(a), 0, sizeof(XfrtV))
#define XV_LOAD(a, p) memcpy(&(a), (p), sizeof(XfrtV))
#define XV_STORE(p, a) memcpy((p), &(a), sizeof(XfrtV))
#define XV_FMAS(acc, s, b)                                                                         \
    do {                                                                                           \
        const float xv_s_ = (s);                                                                   \
        for (int xv_j_ = 0; xv_j_ < XFRT_VW; xv_j_++)                                              \
            XFRT_V_LANE(acc, xv_j_) = xv_s_ * XFRT_V_LANE(b, xv_j_) + XFRT_V_LANE(acc, xv_j_);                                \
    } while (0)
#define XV_MUL(r, a, b)                                                                            \
    do {                                                                                           \
        for (int xv_j_ = 0; xv_j_ < XFRT_VW; xv_j_++)                                              \
            XFRT_V_LANE(r, xv_j_) = XFRT_V_LANE(a, xv_j_) * XFRT_V_LANE(b, xv_j_);                                            \
    } while (0)
#define XV_LOAD2_BF16(v0, v1, p)                                                                   \
    do {                                                                                           \
        uint16_t xv_h_[2 * XFRT_VW];                                                               \
        memcpy(xv_h_, (p), sizeof xv_h_);                                                          \
        for (int xv_j_ = 0; xv_j_ < XFRT_VW; xv_j_++) {                                            \
            XFRT_V_LANE(v0, xv_j_) = xfrt_bf16_widen(xv_h_[xv_j_]);                                         \
            XFRT_V_LANE(v1, xv_j_) = xfrt_bf16_widen(xv_h_[XFRT_VW + xv_j_]);                               \
        }                                                                                          \
    } while (0)
#define XV_LOAD2_Q8(v0, v1, p)                                                                     \
    do {                                                                                           \
        const int8_t *xv_q_ = (const int8_t *)(const void *)(p);                                   \
        for (int xv_j_ = 0; xv_j_ < XFRT_VW; xv_j_++) {                                            \
            XFRT_V_LANE(v0, xv_j_) = (float)xv_q_[xv_j_];                                                   \
            XFRT_V_LANE(v1, xv_j_) = (float)xv_q_[XFRT_VW + xv_j_];                                         \
        }                                                                                          \
    } while (0)
#endif

#define XFRT_NR (2 * XFRT_VW)           /* panel width: two vectors */
#ifndef XFRT_MC
#define XFRT_MC (12 * XFRT_MR)          /* rows of x per work item (A block, in L2; heap) */
#endif
#define XFRT_MC_STACK (4 * XFRT_MR)     /* rows at a time in the stack's buffers */
#ifndef XFRT_KC
#define XFRT_KC 256                     /* k per block: a multiple of XFRT_Q8_BLOCK */
#endif
#ifndef XFRT_NC
#define XFRT_NC 256                     /* columns per work item: a multiple of XFRT_NR */
#endif
#define XFRT_SKINNY 4                   /* n up to this: the streaming (GEMV) kernel */
#define XFRT_PF_TILES 4                 /* row tiles that prefetch the next panel */
#define XFRT_Q8_BLOCK_BYTES(nr) ((size_t)(nr) * (4 + XFRT_Q8_BLOCK))
/* The GEMM's fp32 copy of one panel's k-block (bf16 widened; q8 as blocks of
 * XFRT_NR scales then XFRT_Q8_BLOCK x XFRT_NR q's as floats: XFRT_UK_Q8F) */
#define XFRT_UK_Q8F 3
#define XFRT_BBUF_FLOATS (XFRT_KC * XFRT_NR + (XFRT_KC / XFRT_Q8_BLOCK + 1) * XFRT_NR)

/* ---- the kernel ------------------------------------------------------------
 * c[r * ldc + p * XFRT_NR + j] (r < R, p < P, j < XFRT_NR) continues its chain
 * over k = k0 .. k0+kc-1 (from 0 when !load): + a[(k - k0) * R + r] * the
 * weight of panel p (at b + p * pstride; b is panel 0's start) at k, row j.
 * R (<= XFRT_MR, at most 12), P (<= XFRT_SKINNY_P, at most 4) and fmt are
 * constants after inlining.  The R x P x 2 accumulators are named variables,
 * one per (row, panel, half), each under a guard that is constant once R and
 * P are, so every compiler keeps the live ones in registers (an array of
 * them is not reliably promoted). */
#define XFRT_UK_MAXR XFRT_MR
#define XFRT_UK_MAXP XFRT_SKINNY_P
#define XFRT_EACH_RP(M) \
    M(0, 0) M(0, 1) M(0, 2) M(0, 3) M(1, 0) M(1, 1) M(1, 2) M(1, 3) \
    M(2, 0) M(2, 1) M(2, 2) M(2, 3) M(3, 0) M(3, 1) M(3, 2) M(3, 3) \
    M(4, 0) M(4, 1) M(4, 2) M(4, 3) M(5, 0) M(5, 1) M(5, 2) M(5, 3) \
    M(6, 0) M(6, 1) M(6, 2) M(6, 3) M(7, 0) M(7, 1) M(7, 2) M(7, 3) \
    M(8, 0) M(8, 1) M(8, 2) M(8, 3) M(9, 0) M(9, 1) M(9, 2) M(9, 3) \
    M(10, 0) M(10, 1) M(10, 2) M(10, 3) M(11, 0) M(11, 1) M(11, 2) M(11, 3)
#define XFRT_EACH_P(M) M(0) M(1) M(2) M(3)

XFRT_GEMM_INLINE void xfrt_ukr(const int fmt, const int R, const int P, const float *a,
                               const unsigned char *b, size_t pstride, const unsigned char *pf,
                               size_t pfs, int k0, int kc, float *c,
                               int ldc, int load)
{
    XfrtV xfrt_a0_0_0 = XV_ZERO_INIT, xfrt_a0_0_1 = XV_ZERO_INIT,
          xfrt_a0_1_0 = XV_ZERO_INIT, xfrt_a0_1_1 = XV_ZERO_INIT,
          xfrt_a0_2_0 = XV_ZERO_INIT, xfrt_a0_2_1 = XV_ZERO_INIT,
          xfrt_a0_3_0 = XV_ZERO_INIT, xfrt_a0_3_1 = XV_ZERO_INIT,
          xfrt_a1_0_0 = XV_ZERO_INIT, xfrt_a1_0_1 = XV_ZERO_INIT,
          xfrt_a1_1_0 = XV_ZERO_INIT, xfrt_a1_1_1 = XV_ZERO_INIT,
          xfrt_a1_2_0 = XV_ZERO_INIT, xfrt_a1_2_1 = XV_ZERO_INIT,
          xfrt_a1_3_0 = XV_ZERO_INIT, xfrt_a1_3_1 = XV_ZERO_INIT,
          xfrt_a2_0_0 = XV_ZERO_INIT, xfrt_a2_0_1 = XV_ZERO_INIT,
          xfrt_a2_1_0 = XV_ZERO_INIT, xfrt_a2_1_1 = XV_ZERO_INIT,
          xfrt_a2_2_0 = XV_ZERO_INIT, xfrt_a2_2_1 = XV_ZERO_INIT,
          xfrt_a2_3_0 = XV_ZERO_INIT, xfrt_a2_3_1 = XV_ZERO_INIT,
          xfrt_a3_0_0 = XV_ZERO_INIT, xfrt_a3_0_1 = XV_ZERO_INIT,
          xfrt_a3_1_0 = XV_ZERO_INIT, xfrt_a3_1_1 = XV_ZERO_INIT,
          xfrt_a3_2_0 = XV_ZERO_INIT, xfrt_a3_2_1 = XV_ZERO_INIT,
          xfrt_a3_3_0 = XV_ZERO_INIT, xfrt_a3_3_1 = XV_ZERO_INIT,
          xfrt_a4_0_0 = XV_ZERO_INIT, xfrt_a4_0_1 = XV_ZERO_INIT,
          xfrt_a4_1_0 = XV_ZERO_INIT, xfrt_a4_1_1 = XV_ZERO_INIT,
          xfrt_a4_2_0 = XV_ZERO_INIT, xfrt_a4_2_1 = XV_ZERO_INIT,
          xfrt_a4_3_0 = XV_ZERO_INIT, xfrt_a4_3_1 = XV_ZERO_INIT,
          xfrt_a5_0_0 = XV_ZERO_INIT, xfrt_a5_0_1 = XV_ZERO_INIT,
          xfrt_a5_1_0 = XV_ZERO_INIT, xfrt_a5_1_1 = XV_ZERO_INIT,
          xfrt_a5_2_0 = XV_ZERO_INIT, xfrt_a5_2_1 = XV_ZERO_INIT,
          xfrt_a5_3_0 = XV_ZERO_INIT, xfrt_a5_3_1 = XV_ZERO_INIT,
          xfrt_a6_0_0 = XV_ZERO_INIT, xfrt_a6_0_1 = XV_ZERO_INIT,
          xfrt_a6_1_0 = XV_ZERO_INIT, xfrt_a6_1_1 = XV_ZERO_INIT,
          xfrt_a6_2_0 = XV_ZERO_INIT, xfrt_a6_2_1 = XV_ZERO_INIT,
          xfrt_a6_3_0 = XV_ZERO_INIT, xfrt_a6_3_1 = XV_ZERO_INIT,
          xfrt_a7_0_0 = XV_ZERO_INIT, xfrt_a7_0_1 = XV_ZERO_INIT,
          xfrt_a7_1_0 = XV_ZERO_INIT, xfrt_a7_1_1 = XV_ZERO_INIT,
          xfrt_a7_2_0 = XV_ZERO_INIT, xfrt_a7_2_1 = XV_ZERO_INIT,
          xfrt_a7_3_0 = XV_ZERO_INIT, xfrt_a7_3_1 = XV_ZERO_INIT,
          xfrt_a8_0_0 = XV_ZERO_INIT, xfrt_a8_0_1 = XV_ZERO_INIT,
          xfrt_a8_1_0 = XV_ZERO_INIT, xfrt_a8_1_1 = XV_ZERO_INIT,
          xfrt_a8_2_0 = XV_ZERO_INIT, xfrt_a8_2_1 = XV_ZERO_INIT,
          xfrt_a8_3_0 = XV_ZERO_INIT, xfrt_a8_3_1 = XV_ZERO_INIT,
          xfrt_a9_0_0 = XV_ZERO_INIT, xfrt_a9_0_1 = XV_ZERO_INIT,
          xfrt_a9_1_0 = XV_ZERO_INIT, xfrt_a9_1_1 = XV_ZERO_INIT,
          xfrt_a9_2_0 = XV_ZERO_INIT, xfrt_a9_2_1 = XV_ZERO_INIT,
          xfrt_a9_3_0 = XV_ZERO_INIT, xfrt_a9_3_1 = XV_ZERO_INIT,
          xfrt_a10_0_0 = XV_ZERO_INIT, xfrt_a10_0_1 = XV_ZERO_INIT,
          xfrt_a10_1_0 = XV_ZERO_INIT, xfrt_a10_1_1 = XV_ZERO_INIT,
          xfrt_a10_2_0 = XV_ZERO_INIT, xfrt_a10_2_1 = XV_ZERO_INIT,
          xfrt_a10_3_0 = XV_ZERO_INIT, xfrt_a10_3_1 = XV_ZERO_INIT,
          xfrt_a11_0_0 = XV_ZERO_INIT, xfrt_a11_0_1 = XV_ZERO_INIT,
          xfrt_a11_1_0 = XV_ZERO_INIT, xfrt_a11_1_1 = XV_ZERO_INIT,
          xfrt_a11_2_0 = XV_ZERO_INIT, xfrt_a11_2_1 = XV_ZERO_INIT,
          xfrt_a11_3_0 = XV_ZERO_INIT, xfrt_a11_3_1 = XV_ZERO_INIT;
    XfrtV xfrt_w0_0 = XV_ZERO_INIT, xfrt_w0_1 = XV_ZERO_INIT, xfrt_w1_0 = XV_ZERO_INIT,
          xfrt_w1_1 = XV_ZERO_INIT, xfrt_w2_0 = XV_ZERO_INIT, xfrt_w2_1 = XV_ZERO_INIT,
          xfrt_w3_0 = XV_ZERO_INIT, xfrt_w3_1 = XV_ZERO_INIT;
    XfrtV xfrt_s0_0 = XV_ZERO_INIT, xfrt_s0_1 = XV_ZERO_INIT, xfrt_s1_0 = XV_ZERO_INIT,
          xfrt_s1_1 = XV_ZERO_INIT, xfrt_s2_0 = XV_ZERO_INIT, xfrt_s2_1 = XV_ZERO_INIT,
          xfrt_s3_0 = XV_ZERO_INIT, xfrt_s3_1 = XV_ZERO_INIT;
    (void)pstride;
#define XFRT_UK_IN(r, p)                                                                           \
    if ((r) < R && (p) < P && load) {                                                              \
        XV_LOAD(xfrt_a##r##_##p##_0, c + (size_t)(r) * ldc + (p) * XFRT_NR);                      \
        XV_LOAD(xfrt_a##r##_##p##_1, c + (size_t)(r) * ldc + (p) * XFRT_NR + XFRT_VW);            \
    }
#define XFRT_UK_OUT(r, p)                                                                          \
    if ((r) < R && (p) < P) {                                                                      \
        XV_STORE(c + (size_t)(r) * ldc + (p) * XFRT_NR, xfrt_a##r##_##p##_0);                     \
        XV_STORE(c + (size_t)(r) * ldc + (p) * XFRT_NR + XFRT_VW, xfrt_a##r##_##p##_1);           \
    }
#define XFRT_UK_FMA(r, p)                                                                          \
    if ((r) < R && (p) < P) {                                                                      \
        XV_FMAS(xfrt_a##r##_##p##_0, ak[(r) * XFRT_KC], xfrt_w##p##_0);                            \
        XV_FMAS(xfrt_a##r##_##p##_1, ak[(r) * XFRT_KC], xfrt_w##p##_1);                            \
    }
#define XFRT_UK_W_F32(p)                                                                           \
    if ((p) < P) {                                                                                 \
        XV_LOAD(xfrt_w##p##_0, bk + (p) * ps);                                                     \
        XV_LOAD(xfrt_w##p##_1, bk + (p) * ps + XFRT_VW);                                           \
    }
#define XFRT_UK_W_BF16(p)                                                                          \
    if ((p) < P)                                                                                   \
        XV_LOAD2_BF16(xfrt_w##p##_0, xfrt_w##p##_1, bk + (p) * pstride);
#define XFRT_UK_S_Q8(p)                                                                            \
    if ((p) < P) {                                                                                 \
        XV_LOAD(xfrt_s##p##_0, (const float *)(const void *)(bb + (p) * pstride));                 \
        XV_LOAD(xfrt_s##p##_1, (const float *)(const void *)(bb + (p) * pstride) + XFRT_VW);       \
    }
#define XFRT_UK_W_Q8(p)                                                                            \
    if ((p) < P && fmt == XFRT_UK_Q8F) {                                                           \
        XV_LOAD(xfrt_w##p##_0, (const float *)(const void *)(q + (p) * pstride));                  \
        XV_LOAD(xfrt_w##p##_1, (const float *)(const void *)(q + (p) * pstride) + XFRT_VW);        \
    } else if ((p) < P) {                                                                          \
        XV_LOAD2_Q8(xfrt_w##p##_0, xfrt_w##p##_1, q + (p) * pstride);                              \
    }
/* pfs bytes a step of the next panel (or a slice of it) on their way into
 * cache: one 64-byte line a step, two when a step is longer */
#define XFRT_UK_PF(k)                                                                              \
    if (pf) {                                                                                      \
        XFRT_PREFETCH(pf + (size_t)(k) * pfs);                                                     \
        if (pfs > 64)                                                                              \
            XFRT_PREFETCH(pf + (size_t)(k) * pfs + 64);                                            \
    }
#define XFRT_UK_ZERO(r, p)                                                                         \
    if ((r) < R && (p) < P) {                                                                      \
        XV_ZERO(xfrt_a##r##_##p##_0);                                                              \
        XV_ZERO(xfrt_a##r##_##p##_1);                                                              \
    }
#define XFRT_UK_MERGE_HALF(r, p, h)                                                                \
    {                                                                                              \
        float *xfrt_c_ = c + (size_t)(r) * ldc + (p) * XFRT_NR + (h) * XFRT_VW;                    \
        XfrtV xfrt_o_ = XV_ZERO_INIT;                                                              \
        if (!first)                                                                                \
            XV_LOAD(xfrt_o_, xfrt_c_);                                                             \
        xfrt_o_ = xfrt_v_fma(xfrt_s##p##_##h, xfrt_a##r##_##p##_##h, xfrt_o_);                    \
        XV_STORE(xfrt_c_, xfrt_o_);                                                                \
    }
#define XFRT_UK_MERGE(r, p)                                                                        \
    if ((r) < R && (p) < P) {                                                                      \
        XFRT_UK_MERGE_HALF(r, p, 0)                                                                \
        XFRT_UK_MERGE_HALF(r, p, 1)                                                                \
    }
    if (fmt == XFRT_WF_Q8 || fmt == XFRT_UK_Q8F) {
        /* per block: the integer weights' sums T = sum_t q_t x_t from 0, then
         * c = s * T + c, the block's per-row scale applied once (XFRT_UK_Q8F:
         * the same blocks with each q already a float) */
        const size_t qw = fmt == XFRT_UK_Q8F ? sizeof(float) : 1;
        for (int k = 0; k < kc;) {
            int kk = k0 + k, blk = kk / XFRT_Q8_BLOCK, at = kk % XFRT_Q8_BLOCK;
            int len = XFRT_Q8_BLOCK - at < kc - k ? XFRT_Q8_BLOCK - at : kc - k;
            const unsigned char *bb = b + (size_t)blk * (4 + XFRT_Q8_BLOCK * qw) * XFRT_NR;
            const unsigned char *q = bb + 4 * XFRT_NR + (size_t)at * XFRT_NR * qw;
            const float *ak = a + k;
            int first = !load && k == 0;
            XFRT_EACH_RP(XFRT_UK_ZERO)
            for (int t = 0; t < len; t++, q += XFRT_NR * qw, ak++) {
                XFRT_UK_PF(k + t)
                XFRT_EACH_P(XFRT_UK_W_Q8)
                XFRT_EACH_RP(XFRT_UK_FMA)
            }
            XFRT_EACH_P(XFRT_UK_S_Q8)
            XFRT_EACH_RP(XFRT_UK_MERGE)
            k += len;
        }
        return;
    }
    XFRT_EACH_RP(XFRT_UK_IN)
    if (fmt == XFRT_WF_BF16) {
        const unsigned char *bk = b + (size_t)k0 * XFRT_NR * 2;
        const float *ak = a;
        for (int k = 0; k < kc; k++, bk += 2 * XFRT_NR, ak++) {
            XFRT_UK_PF(k)
            XFRT_EACH_P(XFRT_UK_W_BF16)
            XFRT_EACH_RP(XFRT_UK_FMA)
        }
    } else {
        const float *bk = (const float *)(const void *)b + (size_t)k0 * XFRT_NR;
        const float *ak = a;
        size_t ps = pstride / sizeof(float);
        (void)ps;
        for (int k = 0; k < kc; k++, bk += XFRT_NR, ak++) {
            XFRT_UK_PF(k)
            XFRT_EACH_P(XFRT_UK_W_F32)
            XFRT_EACH_RP(XFRT_UK_FMA)
        }
    }
    XFRT_EACH_RP(XFRT_UK_OUT)
#undef XFRT_UK_IN
#undef XFRT_UK_OUT
#undef XFRT_UK_FMA
#undef XFRT_UK_W_F32
#undef XFRT_UK_W_BF16
#undef XFRT_UK_S_Q8
#undef XFRT_UK_W_Q8
#undef XFRT_UK_ZERO
#undef XFRT_UK_PF
#undef XFRT_UK_MERGE_HALF
#undef XFRT_UK_MERGE
}

/* The kernels the product driver calls, each compiled once (not inlined into
 * every caller: that multiplied the generated code's compile time):
 *   xfrt_uk_gemm           fp32, XFRT_MR rows x 1 panel (bf16 panels are
 *                          widened into fp32 first, once per k-block);
 *   xfrt_uk_gemm_q8        q8, XFRT_MR rows x 1 panel, from its k-block's
 *                          blocks with the q's widened to floats once;
 *   xfrt_uk_FMT_rR_g / _1  FMT = f32, bf16, q8; R = 1 or 4 rows (n = 2, 3 run
 *                          as 4 with zero rows) x XFRT_SKINNY_PANELS(R) / 1
 *                          panels: the streaming kernel of small n. */
#if defined(__GNUC__) || defined(__clang__)
#define XFRT_UK_FN static __attribute__((noinline, unused))
#else
#define XFRT_UK_FN static
#endif
#define XFRT_SKINNY_PANELS(R)                                                                      \
    (XFRT_ACC / (2 * (R)) < 1 ? 1 : XFRT_ACC / (2 * (R)) < XFRT_SKINNY_P ? XFRT_ACC / (2 * (R)) : XFRT_SKINNY_P)
typedef void (*XfrtUkFn)(const float *a, const unsigned char *b, size_t pstride,
                         const unsigned char *pf, size_t pfs, int k0, int kc, float *c, int load);
#define XFRT_UK_INST(name, fmt, R, P)                                                              \
    XFRT_UK_FN void name(const float *a, const unsigned char *b, size_t pstride,                   \
                         const unsigned char *pf, size_t pfs, int k0, int kc, float *c, int load)   \
    {                                                                                              \
        xfrt_ukr(fmt, R, P, a, b, pstride, pf, pfs, k0, kc, c, XFRT_NC, load);                     \
    }
XFRT_UK_INST(xfrt_uk_gemm, XFRT_WF_F32, XFRT_MR, 1)
XFRT_UK_INST(xfrt_uk_gemm_q8, XFRT_UK_Q8F, XFRT_MR, 1)
#define XFRT_UK_FMT(tag, fmt)                                                                      \
    XFRT_UK_INST(xfrt_uk_##tag##_r1_g, fmt, 1, XFRT_SKINNY_PANELS(1))                             \
    XFRT_UK_INST(xfrt_uk_##tag##_r1_1, fmt, 1, 1)                                                  \
    XFRT_UK_INST(xfrt_uk_##tag##_r4_g, fmt, 4, XFRT_SKINNY_PANELS(4))                             \
    XFRT_UK_INST(xfrt_uk_##tag##_r4_1, fmt, 4, 1)
XFRT_UK_FMT(f32, XFRT_WF_F32)
XFRT_UK_FMT(bf16, XFRT_WF_BF16)
XFRT_UK_FMT(q8, XFRT_WF_Q8)

/* Rows the skinny kernel computes for n rows (n <= XFRT_SKINNY). */
static inline int xfrt_skinny_rows(int n) { return n <= 1 ? 1 : 4; }

/* Panel p of matrix m (matrix 0 of its stack). */
static inline const unsigned char *xfrt_mat_panel(const XfrtMat *m, int p)
{
    return m->data + (size_t)p * m->panel_bytes;
}

/* Bytes of a panel per k, and where panel p's step k starts (k a multiple of
 * XFRT_Q8_BLOCK for q8): the GEMM prefetches the next panel with them. */
static inline size_t xfrt_mat_kstep(const XfrtMat *m)
{
    size_t nr = (size_t)m->nr;
    return m->fmt == XFRT_WF_BF16 ? 2 * nr : m->fmt == XFRT_WF_Q8 ? XFRT_Q8_BLOCK_BYTES(nr) / XFRT_Q8_BLOCK : 4 * nr;
}
static inline const unsigned char *xfrt_mat_at_k(const XfrtMat *m, int p, int k)
{
    if (m->fmt == XFRT_WF_Q8)
        return xfrt_mat_panel(m, p) + (size_t)(k / XFRT_Q8_BLOCK) * XFRT_Q8_BLOCK_BYTES(m->nr);
    return xfrt_mat_panel(m, p) + (size_t)k * xfrt_mat_kstep(m);
}

/* Panel p's q8 blocks at k = k0 .. k0+kc-1 (k0 a multiple of XFRT_Q8_BLOCK)
 * with each q widened to a float (exactly), the scales as they are: what
 * XFRT_UK_Q8F reads, converted once per k-block for every row tile. */
static inline void xfrt_mat_widen_q8(const XfrtMat *m, int p, int k0, int kc, float *dst)
{
    size_t nr = (size_t)m->nr;
    const unsigned char *bb = xfrt_mat_at_k(m, p, k0);
    for (int k = 0; k < kc; k += XFRT_Q8_BLOCK, bb += XFRT_Q8_BLOCK_BYTES(nr)) {
        memcpy(dst, bb, nr * sizeof *dst);
        const int8_t *q = (const int8_t *)(const void *)(bb + 4 * nr);
        float *d = dst + nr;
        for (size_t i = 0; i < XFRT_Q8_BLOCK * nr; i++)
            d[i] = (float)q[i];
        dst += (1 + XFRT_Q8_BLOCK) * nr;
    }
}

/* The weights w' of a bf16 panel p at k = k0 .. k0+kc-1 as fp32,
 * dst[(k - k0) * nr + j]: the GEMM widens a panel block once and reuses it
 * across rows. */
static inline void xfrt_mat_widen_bf16(const XfrtMat *m, int p, int k0, int kc, float *dst)
{
    const uint16_t *h = (const uint16_t *)(const void *)xfrt_mat_at_k(m, p, k0);
    for (size_t i = 0; i < (size_t)kc * m->nr; i++)
        dst[i] = xfrt_bf16_widen(h[i]);
}

#endif
