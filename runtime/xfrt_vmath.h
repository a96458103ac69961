/* xfrt_vmath.h - vectors of XFRT_VW floats and the math on them: exp and the
 * activations built on it (internal to the runtime; embedded once into
 * generated code, after xfrt_isa.h).
 *
 * One set of primitives per ISA (xfrt_isa.h picks exactly one), and the
 * functions (xfrt_v_exp, xfrt_v_silu, xfrt_v_gelu, xfrt_v_gelu_tanh) written
 * once on top of them, so every target computes the same formulas.  Every
 * lane is computed alone: a value's bits do not depend on its neighbours or
 * on where a vector starts, so loops over arrays give the same bits for any
 * split among threads.  Array tails go through xfrt_v_loadn / xfrt_v_storen
 * and take the same path as whole vectors.
 *
 * Accuracy (measured against double precision by tests/unit/test_rt_vmath.c,
 * which fails if it degrades): exp within 2 ulp over [-104, 89] (results
 * below FLT_MIN flush to within one denormal step); +inf, 0 and NaN where
 * libm gives them.  silu and gelu_tanh, both x / (1 + exp(-t)), within 4 ulp;
 * gelu within 8 ulp.  xfc's tests compare models at 1e-4. */
#ifndef XFRT_VMATH_H
#define XFRT_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if XFRT_ISA_AVX512
#define XFRT_VW 16
typedef __m512 XfrtV;
#define XFRT_V_INLINE __attribute__((always_inline, unused)) static inline
XFRT_V_INLINE XfrtV xfrt_v_set1(float a) { return _mm512_set1_ps(a); }
XFRT_V_INLINE XfrtV xfrt_v_load(const float *p) { return _mm512_loadu_ps(p); }
XFRT_V_INLINE void xfrt_v_store(float *p, XfrtV v) { _mm512_storeu_ps(p, v); }
/* the first n (< XFRT_VW) lanes; the others read as 0 / are not written */
XFRT_V_INLINE XfrtV xfrt_v_loadn(const float *p, int n)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
XFRT_V_INLINE void xfrt_v_storen(float *p, XfrtV v, int n)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), v);
}
XFRT_V_INLINE XfrtV xfrt_v_add(XfrtV a, XfrtV b) { return _mm512_add_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_sub(XfrtV a, XfrtV b) { return _mm512_sub_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_mul(XfrtV a, XfrtV b) { return _mm512_mul_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_div(XfrtV a, XfrtV b) { return _mm512_div_ps(a, b); }
/* a * b + c */
XFRT_V_INLINE XfrtV xfrt_v_fma(XfrtV a, XfrtV b, XfrtV c) { return _mm512_fmadd_ps(a, b, c); }
/* max and min: b when either is NaN */
XFRT_V_INLINE XfrtV xfrt_v_max(XfrtV a, XfrtV b) { return _mm512_max_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_min(XfrtV a, XfrtV b) { return _mm512_min_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_abs(XfrtV a) { return _mm512_abs_ps(a); }
/* to the nearest integer (ties to even) */
XFRT_V_INLINE XfrtV xfrt_v_round(XfrtV a)
{
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* 2^n for integral n in [-126, 127] */
XFRT_V_INLINE XfrtV xfrt_v_pow2i(XfrtV n)
{
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
/* c ? a : b per lane, c: x is NaN / x < 0 */
XFRT_V_INLINE XfrtV xfrt_v_ifnan(XfrtV x, XfrtV a, XfrtV b)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), b, a);
}
XFRT_V_INLINE XfrtV xfrt_v_ifneg(XfrtV x, XfrtV a, XfrtV b)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), b, a);
}
/* a * a - s exactly, for s = a * a rounded */
XFRT_V_INLINE XfrtV xfrt_v_sqr_err(XfrtV a, XfrtV s) { return _mm512_fmsub_ps(a, a, s); }
XFRT_V_INLINE float xfrt_v_hsum(XfrtV a) { return _mm512_reduce_add_ps(a); }

#elif XFRT_ISA_AVX2
#define XFRT_VW 8
typedef __m256 XfrtV;
#define XFRT_V_INLINE __attribute__((always_inline, unused)) static inline
XFRT_V_INLINE XfrtV xfrt_v_set1(float a) { return _mm256_set1_ps(a); }
XFRT_V_INLINE XfrtV xfrt_v_load(const float *p) { return _mm256_loadu_ps(p); }
XFRT_V_INLINE void xfrt_v_store(float *p, XfrtV v) { _mm256_storeu_ps(p, v); }
XFRT_V_INLINE __m256i xfrt_v_mask_(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
XFRT_V_INLINE XfrtV xfrt_v_loadn(const float *p, int n) { return _mm256_maskload_ps(p, xfrt_v_mask_(n)); }
XFRT_V_INLINE void xfrt_v_storen(float *p, XfrtV v, int n) { _mm256_maskstore_ps(p, xfrt_v_mask_(n), v); }
XFRT_V_INLINE XfrtV xfrt_v_add(XfrtV a, XfrtV b) { return _mm256_add_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_sub(XfrtV a, XfrtV b) { return _mm256_sub_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_mul(XfrtV a, XfrtV b) { return _mm256_mul_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_div(XfrtV a, XfrtV b) { return _mm256_div_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_fma(XfrtV a, XfrtV b, XfrtV c) { return _mm256_fmadd_ps(a, b, c); }
XFRT_V_INLINE XfrtV xfrt_v_max(XfrtV a, XfrtV b) { return _mm256_max_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_min(XfrtV a, XfrtV b) { return _mm256_min_ps(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_abs(XfrtV a)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
}
XFRT_V_INLINE XfrtV xfrt_v_round(XfrtV a)
{
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
XFRT_V_INLINE XfrtV xfrt_v_pow2i(XfrtV n)
{
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
XFRT_V_INLINE XfrtV xfrt_v_ifnan(XfrtV x, XfrtV a, XfrtV b)
{
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
XFRT_V_INLINE XfrtV xfrt_v_ifneg(XfrtV x, XfrtV a, XfrtV b)
{
    return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}
XFRT_V_INLINE XfrtV xfrt_v_sqr_err(XfrtV a, XfrtV s) { return _mm256_fmsub_ps(a, a, s); }
XFRT_V_INLINE float xfrt_v_hsum(XfrtV a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

#elif XFRT_ISA_NEON
#define XFRT_VW 4
typedef float32x4_t XfrtV;
#define XFRT_V_INLINE __attribute__((always_inline, unused)) static inline
XFRT_V_INLINE XfrtV xfrt_v_set1(float a) { return vdupq_n_f32(a); }
XFRT_V_INLINE XfrtV xfrt_v_load(const float *p) { return vld1q_f32(p); }
XFRT_V_INLINE void xfrt_v_store(float *p, XfrtV v) { vst1q_f32(p, v); }
XFRT_V_INLINE XfrtV xfrt_v_loadn(const float *p, int n)
{
    float t[4] = {0, 0, 0, 0};
    memcpy(t, p, (size_t)n * sizeof(float));
    return vld1q_f32(t);
}
XFRT_V_INLINE void xfrt_v_storen(float *p, XfrtV v, int n)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}
XFRT_V_INLINE XfrtV xfrt_v_add(XfrtV a, XfrtV b) { return vaddq_f32(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_sub(XfrtV a, XfrtV b) { return vsubq_f32(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_mul(XfrtV a, XfrtV b) { return vmulq_f32(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_div(XfrtV a, XfrtV b) { return vdivq_f32(a, b); }
XFRT_V_INLINE XfrtV xfrt_v_fma(XfrtV a, XfrtV b, XfrtV c) { return vfmaq_f32(c, a, b); }
/* b when either is NaN, as on x86 */
XFRT_V_INLINE XfrtV xfrt_v_max(XfrtV a, XfrtV b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
XFRT_V_INLINE XfrtV xfrt_v_min(XfrtV a, XfrtV b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
XFRT_V_INLINE XfrtV xfrt_v_abs(XfrtV a) { return vabsq_f32(a); }
XFRT_V_INLINE XfrtV xfrt_v_round(XfrtV a) { return vrndnq_f32(a); }
XFRT_V_INLINE XfrtV xfrt_v_pow2i(XfrtV n)
{
    int32x4_t e = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}
XFRT_V_INLINE XfrtV xfrt_v_ifnan(XfrtV x, XfrtV a, XfrtV b) { return vbslq_f32(vceqq_f32(x, x), b, a); }
XFRT_V_INLINE XfrtV xfrt_v_ifneg(XfrtV x, XfrtV a, XfrtV b)
{
    return vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0f)), a, b);
}
XFRT_V_INLINE XfrtV xfrt_v_sqr_err(XfrtV a, XfrtV s) { return vnegq_f32(vfmsq_f32(s, a, a)); }
XFRT_V_INLINE float xfrt_v_hsum(XfrtV a)
{
    float32x2_t s = vadd_f32(vget_low_f32(a), vget_high_f32(a));
    return vget_lane_f32(s, 0) + vget_lane_f32(s, 1);
}

#elif defined(__GNUC__) || defined(__clang__)
/* plain C11 under GCC or Clang: their vector extension, 4 floats (whatever
 * the target, the compiler lowers it; one operation per vector keeps
 * compile times short, sanitizers included) */
#define XFRT_VW 4
typedef float XfrtV __attribute__((vector_size(16)));
typedef int32_t XfrtVI_ __attribute__((vector_size(16)));
typedef double XfrtVD_ __attribute__((vector_size(32)));
#define XFRT_V_LANE(v, j) ((v)[j])      /* lane j, as an lvalue */
#define XFRT_V_ZERO_INIT {0, 0, 0, 0}
#define XFRT_V_INLINE __attribute__((always_inline, unused)) static inline
XFRT_V_INLINE XfrtV xfrt_v_set1(float a) { return (XfrtV){a, a, a, a}; }
XFRT_V_INLINE XfrtV xfrt_v_load(const float *p)
{
    XfrtV r;
    memcpy(&r, p, sizeof r);
    return r;
}
XFRT_V_INLINE void xfrt_v_store(float *p, XfrtV v) { memcpy(p, &v, sizeof v); }
XFRT_V_INLINE XfrtV xfrt_v_loadn(const float *p, int n)
{
    XfrtV r = {0, 0, 0, 0};
    memcpy(&r, p, (size_t)n * sizeof(float));
    return r;
}
XFRT_V_INLINE void xfrt_v_storen(float *p, XfrtV v, int n) { memcpy(p, &v, (size_t)n * sizeof(float)); }
XFRT_V_INLINE XfrtV xfrt_v_add(XfrtV a, XfrtV b) { return a + b; }
XFRT_V_INLINE XfrtV xfrt_v_sub(XfrtV a, XfrtV b) { return a - b; }
XFRT_V_INLINE XfrtV xfrt_v_mul(XfrtV a, XfrtV b) { return a * b; }
XFRT_V_INLINE XfrtV xfrt_v_div(XfrtV a, XfrtV b) { return a / b; }
XFRT_V_INLINE XfrtV xfrt_v_fma(XfrtV a, XfrtV b, XfrtV c) { return a * b + c; }
/* m ? a : b per lane, m all ones or zero */
XFRT_V_INLINE XfrtV xfrt_v_sel_(XfrtVI_ m, XfrtV a, XfrtV b)
{
    XfrtVI_ ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    ai = (ai & m) | (bi & ~m);
    memcpy(&a, &ai, sizeof a);
    return a;
}
/* b when either is NaN, as on x86 */
XFRT_V_INLINE XfrtV xfrt_v_max(XfrtV a, XfrtV b) { return xfrt_v_sel_((XfrtVI_)(a > b), a, b); }
XFRT_V_INLINE XfrtV xfrt_v_min(XfrtV a, XfrtV b) { return xfrt_v_sel_((XfrtVI_)(a < b), a, b); }
XFRT_V_INLINE XfrtV xfrt_v_abs(XfrtV a) { return xfrt_v_sel_((XfrtVI_)(a < 0), -a, a); }
/* |a| < 2^22 here: adding and taking away 1.5 * 2^23 rounds to an integer */
XFRT_V_INLINE XfrtV xfrt_v_round(XfrtV a)
{
    XfrtV t = a + xfrt_v_set1(12582912.0f);
    return t - xfrt_v_set1(12582912.0f);
}
XFRT_V_INLINE XfrtV xfrt_v_pow2i(XfrtV n)
{
    XfrtVI_ e = (__builtin_convertvector(n, XfrtVI_) + 127) << 23;
    XfrtV r;
    memcpy(&r, &e, sizeof r);
    return r;
}
XFRT_V_INLINE XfrtV xfrt_v_ifnan(XfrtV x, XfrtV a, XfrtV b) { return xfrt_v_sel_((XfrtVI_)(x != x), a, b); }
XFRT_V_INLINE XfrtV xfrt_v_ifneg(XfrtV x, XfrtV a, XfrtV b) { return xfrt_v_sel_((XfrtVI_)(x < 0), a, b); }
/* exact in double: a float's square has at most 48 significant bits */
XFRT_V_INLINE XfrtV xfrt_v_sqr_err(XfrtV a, XfrtV s)
{
    XfrtVD_ d = __builtin_convertvector(a, XfrtVD_);
    return __builtin_convertvector(d * d - __builtin_convertvector(s, XfrtVD_), XfrtV);
}
XFRT_V_INLINE float xfrt_v_hsum(XfrtV a) { return (a[0] + a[2]) + (a[1] + a[3]); }

#else /* plain C11, other compilers: XFRT_VW floats in a struct, lane by lane */
#define XFRT_VW 4
typedef struct {
    float v[XFRT_VW];
} XfrtV;
#define XFRT_V_LANE(v, j) ((v).v[j])
#define XFRT_V_ZERO_INIT {{0}}
#if defined(__GNUC__) || defined(__clang__)
#define XFRT_V_INLINE __attribute__((always_inline, unused)) static inline
#else
#define XFRT_V_INLINE static inline
#endif
#define XFRT_V_MAP(expr) \
    XfrtV r;                                \
    for (int i = 0; i < XFRT_VW; i++)       \
        r.v[i] = (expr);                    \
    return r
XFRT_V_INLINE XfrtV xfrt_v_set1(float a) { XFRT_V_MAP(a); }
XFRT_V_INLINE XfrtV xfrt_v_load(const float *p)
{
    XfrtV r;
    memcpy(&r, p, sizeof r);
    return r;
}
XFRT_V_INLINE void xfrt_v_store(float *p, XfrtV v) { memcpy(p, &v, sizeof v); }
XFRT_V_INLINE XfrtV xfrt_v_loadn(const float *p, int n)
{
    XfrtV r = {{0}};
    memcpy(&r, p, (size_t)n * sizeof(float));
    return r;
}
XFRT_V_INLINE void xfrt_v_storen(float *p, XfrtV v, int n) { memcpy(p, &v, (size_t)n * sizeof(float)); }
XFRT_V_INLINE XfrtV xfrt_v_add(XfrtV a, XfrtV b) { XFRT_V_MAP(a.v[i] + b.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_sub(XfrtV a, XfrtV b) { XFRT_V_MAP(a.v[i] - b.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_mul(XfrtV a, XfrtV b) { XFRT_V_MAP(a.v[i] * b.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_div(XfrtV a, XfrtV b) { XFRT_V_MAP(a.v[i] / b.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_fma(XfrtV a, XfrtV b, XfrtV c) { XFRT_V_MAP(a.v[i] * b.v[i] + c.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_max(XfrtV a, XfrtV b) { XFRT_V_MAP(a.v[i] > b.v[i] ? a.v[i] : b.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_min(XfrtV a, XfrtV b) { XFRT_V_MAP(a.v[i] < b.v[i] ? a.v[i] : b.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_abs(XfrtV a) { XFRT_V_MAP(fabsf(a.v[i])); }
/* |a| < 2^22 here: adding and taking away 1.5 * 2^23 rounds to an integer */
XFRT_V_INLINE XfrtV xfrt_v_round(XfrtV a)
{
    XfrtV r;
    for (int i = 0; i < XFRT_VW; i++) {
        float t = a.v[i] + 12582912.0f;
        r.v[i] = t - 12582912.0f;
    }
    return r;
}
XFRT_V_INLINE XfrtV xfrt_v_pow2i(XfrtV n)
{
    XfrtV r;
    for (int i = 0; i < XFRT_VW; i++) {
        uint32_t b = (uint32_t)((int32_t)n.v[i] + 127) << 23;
        memcpy(&r.v[i], &b, sizeof b);
    }
    return r;
}
XFRT_V_INLINE XfrtV xfrt_v_ifnan(XfrtV x, XfrtV a, XfrtV b) { XFRT_V_MAP(x.v[i] != x.v[i] ? a.v[i] : b.v[i]); }
XFRT_V_INLINE XfrtV xfrt_v_ifneg(XfrtV x, XfrtV a, XfrtV b) { XFRT_V_MAP(x.v[i] < 0.0f ? a.v[i] : b.v[i]); }
/* exact in double: a float's square has at most 48 significant bits */
XFRT_V_INLINE XfrtV xfrt_v_sqr_err(XfrtV a, XfrtV s) { XFRT_V_MAP((float)((double)a.v[i] * a.v[i] - s.v[i])); }
XFRT_V_INLINE float xfrt_v_hsum(XfrtV a) { return (a.v[0] + a.v[2]) + (a.v[1] + a.v[3]); }
#undef XFRT_V_MAP
#endif

#define XFRT_VS(c) xfrt_v_set1((float)(c))

/* exp(x): x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, so r is exact
 * enough), exp(r) by a degree-7 polynomial (Cephes expf's), then times 2^n
 * in two steps so that results between 2^-150 and FLT_MIN round once into
 * denormals.  x is first clamped to [-104, 88.8]: exp(88.8) overflows to
 * +inf and exp(-104) rounds to 0, as the true values do. */
XFRT_V_INLINE XfrtV xfrt_v_exp(XfrtV x)
{
    XfrtV xc = xfrt_v_min(xfrt_v_max(x, XFRT_VS(-104.0f)), XFRT_VS(88.8f));
    XfrtV n = xfrt_v_round(xfrt_v_mul(xc, XFRT_VS(1.44269504088896341f)));
    XfrtV r = xfrt_v_fma(n, XFRT_VS(-0.693359375f), xc);
    r = xfrt_v_fma(n, XFRT_VS(2.12194440e-4f), r);
    XfrtV p = XFRT_VS(1.9875691500e-4f);
    p = xfrt_v_fma(p, r, XFRT_VS(1.3981999507e-3f));
    p = xfrt_v_fma(p, r, XFRT_VS(8.3334519073e-3f));
    p = xfrt_v_fma(p, r, XFRT_VS(4.1665795894e-2f));
    p = xfrt_v_fma(p, r, XFRT_VS(1.6666665459e-1f));
    p = xfrt_v_fma(p, r, XFRT_VS(5.0000001201e-1f));
    p = xfrt_v_add(xfrt_v_fma(p, xfrt_v_mul(r, r), r), XFRT_VS(1.0f));
    XfrtV h = xfrt_v_round(xfrt_v_mul(n, XFRT_VS(0.5f)));     /* n in [-150, 128] */
    p = xfrt_v_mul(xfrt_v_mul(p, xfrt_v_pow2i(h)), xfrt_v_pow2i(xfrt_v_sub(n, h)));
    return xfrt_v_ifnan(x, x, p);
}

/* silu(x) = x / (1 + exp(-x)) */
XFRT_V_INLINE XfrtV xfrt_v_silu(XfrtV x)
{
    XfrtV e = xfrt_v_exp(xfrt_v_sub(XFRT_VS(0.0f), x));
    return xfrt_v_div(x, xfrt_v_add(XFRT_VS(1.0f), e));
}

/* gelu_tanh(x) = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
 * computed as x / (1 + exp(-2u)), the same value without the cancellation
 * of 1 + tanh(u) near -1; -2u = x (A + B x^2). */
XFRT_V_INLINE XfrtV xfrt_v_gelu_tanh(XfrtV x)
{
    XfrtV w = xfrt_v_mul(x, xfrt_v_fma(xfrt_v_mul(x, x), XFRT_VS(-0.07135481627260025f),
                                       XFRT_VS(-1.5957691216057308f)));
    return xfrt_v_div(x, xfrt_v_add(XFRT_VS(1.0f), xfrt_v_exp(w)));
}

/* gelu(x) = 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2).  erfc(z)
 * for z = |x| / sqrt 2 is t exp(-z^2 + P(t)), t = 1 / (1 + z/2), with the
 * degree-9 Chebyshev fit P of Numerical Recipes' erfcc (relative error below
 * 1.2e-7 for every z); 1 + erf(x / sqrt 2) is erfc(z) for x < 0, else
 * 2 - erfc(z), so neither side cancels.  z^2 = x^2 / 2 is taken exactly, as
 * x*x plus its rounding error, so exp(-z^2) keeps its accuracy in the tail.
 * |x| is clamped to 20 (erfc(20 / sqrt 2) is 0 in float). */
XFRT_V_INLINE XfrtV xfrt_v_gelu(XfrtV x)
{
    XfrtV a = xfrt_v_min(xfrt_v_abs(x), XFRT_VS(20.0f));
    XfrtV z = xfrt_v_mul(a, XFRT_VS(0.70710678118654752f));
    XfrtV t = xfrt_v_div(XFRT_VS(1.0f), xfrt_v_fma(XFRT_VS(0.5f), z, XFRT_VS(1.0f)));
    XfrtV p = XFRT_VS(0.17087277f);
    p = xfrt_v_fma(p, t, XFRT_VS(-0.82215223f));
    p = xfrt_v_fma(p, t, XFRT_VS(1.48851587f));
    p = xfrt_v_fma(p, t, XFRT_VS(-1.13520398f));
    p = xfrt_v_fma(p, t, XFRT_VS(0.27886807f));
    p = xfrt_v_fma(p, t, XFRT_VS(-0.18628806f));
    p = xfrt_v_fma(p, t, XFRT_VS(0.09678418f));
    p = xfrt_v_fma(p, t, XFRT_VS(0.37409196f));
    p = xfrt_v_fma(p, t, XFRT_VS(1.00002368f));
    p = xfrt_v_fma(p, t, XFRT_VS(-1.26551223f));
    XfrtV a2 = xfrt_v_mul(a, a), a2lo = xfrt_v_sqr_err(a, a2);
    XfrtV e1 = xfrt_v_exp(xfrt_v_mul(a2, XFRT_VS(-0.5f)));
    XfrtV e2 = xfrt_v_exp(xfrt_v_fma(a2lo, XFRT_VS(-0.5f), p));
    XfrtV ec = xfrt_v_mul(xfrt_v_mul(t, e1), e2);
    XfrtV e = xfrt_v_ifneg(x, ec, xfrt_v_sub(XFRT_VS(2.0f), ec));
    return xfrt_v_mul(xfrt_v_mul(XFRT_VS(0.5f), x), e);
}

#endif
