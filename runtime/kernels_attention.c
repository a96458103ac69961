/* kernels_attention.c - the KV cache and attention over it.
 *
 * Flash-style: a work item is a block of query vectors (up to XFRT_ATT_MQ:
 * several query rows times the query heads that share one KV head) that
 * walks the cache in tiles of XFRT_ATT_BK keys.  Per tile: the scores of all
 * the block's vectors against the tile's keys, an online-softmax update
 * (running max and sum per vector, the output rescaled once per tile, the
 * exponentials by xfrt_v_exp), then the output += P V.  The output rows
 * themselves are the accumulators, so no scratch memory is allocated; the
 * tiles live on the stack.
 *
 * Vectors run across the block's query vectors for the scores and the
 * softmax (prefill: the queries are transposed once per item, each key
 * element is broadcast), across head_dim for P V.  A block of fewer than
 * XFRT_VW / 2 vectors (decode) scores each key by a dot product instead.
 * Which form a call uses depends only on its shapes.
 *
 * Determinism: a query vector's result depends only on its own visible keys:
 * tiles are fixed by cache index, visited in order, and a tile it cannot see
 * is an exact no-op for it, so which rows share a block, and which thread
 * runs it, changes no bit.  Items are dealt out interleaved (item i to thread
 * i mod T, xfrt_stride), because under a causal mask a row's cost grows with
 * its position. */
#include <math.h>
#include <string.h>

#include "xfrt.h"

#include "xfrt_isa.h"
#include "xfrt_lanes.h"
#include "xfrt_vmath.h"

XFRT_API void xfrt_kv_append(XfrtKV *c, const float *k, const float *v, const int32_t *pos, int n)
{
    if (n > 0 && xfrt_lead()) {
        size_t row = (size_t)c->kv_dim;
        memcpy(c->k + (size_t)c->len * row, k, (size_t)n * row * sizeof(float));
        memcpy(c->v + (size_t)c->len * row, v, (size_t)n * row * sizeof(float));
        memcpy(c->pos + c->len, pos, (size_t)n * sizeof(int32_t));
        c->len += n;
    }
    XFRT_BARRIER();     /* every thread attends over the new entries */
}

/* Keys per tile; query vectors per block (two vectors' worth); head_dim up
 * to which the queries are transposed (the transposed block is on the stack);
 * the register blocks: keys per score block, and rows x vectors of head_dim
 * per P V block. */
#define XFRT_ATT_BK 32
#define XFRT_ATT_MQ (2 * XFRT_VW)
#define XFRT_ATT_QT_HD 256
#if XFRT_ISA_AVX512 || XFRT_ISA_NEON
#define XFRT_ATT_NK 8
#define XFRT_ATT_DV 4
#else
#define XFRT_ATT_NK 4
#define XFRT_ATT_DV 2
#endif
#define XFRT_ATT_MR 4

static inline int xfrt_att_visible(int32_t kp, int32_t qpos, int causal, int window)
{
    if (causal && kp > qpos)
        return 0;
    if (window > 0 && ((int64_t)qpos - kp >= window || (int64_t)kp - qpos >= window))
        return 0;
    return 1;
}

/* What a query at qpos sees of keys with positions in [kmin, kmax]:
 * 0 none, 1 all, 2 some. */
static inline int xfrt_att_sees(int32_t kmin, int32_t kmax, int32_t qpos, int causal, int window)
{
    if ((causal && kmin > qpos) ||
        (window > 0 && ((int64_t)qpos - kmax >= window || (int64_t)kmin - qpos >= window)))
        return 0;
    if ((!causal || kmax <= qpos) &&
        (window <= 0 || ((int64_t)qpos - kmin < window && (int64_t)kmax - qpos < window)))
        return 1;
    return 2;
}

/* Scores of XFRT_ATT_NK keys (rows k, k + ks, ...) against the transposed
 * block qt ([hd][mv * XFRT_VW]), into st ([key][mv * XFRT_VW]), times scale.
 * Each score sums over d in order. */
XFRT_V_INLINE void xfrt_att_scores_qt(float *st, const float *qt, const float *k, size_t ks, int hd,
                                      float scale, int mv)
{
    XfrtV acc[XFRT_ATT_NK][2];
    int mp = mv * XFRT_VW;
    for (int b = 0; b < XFRT_ATT_NK; b++)
        for (int v = 0; v < mv; v++)
            acc[b][v] = xfrt_v_set1(0.0f);
    for (int d = 0; d < hd; d++) {
        XfrtV q0 = xfrt_v_load(qt + (size_t)d * mp), q1 = q0;
        if (mv > 1)
            q1 = xfrt_v_load(qt + (size_t)d * mp + XFRT_VW);
        for (int b = 0; b < XFRT_ATT_NK; b++) {
            XfrtV kv = xfrt_v_set1(k[(size_t)b * ks + (size_t)d]);
            acc[b][0] = xfrt_v_fma(q0, kv, acc[b][0]);
            if (mv > 1)
                acc[b][1] = xfrt_v_fma(q1, kv, acc[b][1]);
        }
    }
    XfrtV sc = xfrt_v_set1(scale);
    for (int b = 0; b < XFRT_ATT_NK; b++)
        for (int v = 0; v < mv; v++)
            xfrt_v_store(st + (size_t)b * mp + v * XFRT_VW, xfrt_v_mul(acc[b][v], sc));
}

/* q . k over hd: lanes over d, then the lanes' sum */
static inline float xfrt_att_dot(const float *q, const float *k, int hd)
{
    XfrtV acc = xfrt_v_set1(0.0f);
    int d = 0;
    for (; d + XFRT_VW <= hd; d += XFRT_VW)
        acc = xfrt_v_fma(xfrt_v_load(q + d), xfrt_v_load(k + d), acc);
    if (d < hd)
        acc = xfrt_v_fma(xfrt_v_loadn(q + d, hd - d), xfrt_v_loadn(k + d, hd - d), acc);
    return xfrt_v_hsum(acc);
}

/* y[r][d0 ..] = y[r][d0 ..] * al[r] + sum over keys j < nk of pt[j][r] vr[j][d0 ..]
 * for R rows (<= XFRT_ATT_MR) and D vectors of head_dim (<= XFRT_ATT_DV), the
 * last of them n lanes wide. */
XFRT_V_INLINE void xfrt_att_pv(float *const *y, const float *al, const float *pt, int mp,
                               const float *const *vr, int nk, int d0, int R, int D, int n)
{
    XfrtV acc[XFRT_ATT_MR][XFRT_ATT_DV];
    for (int r = 0; r < R; r++) {
        XfrtV a = xfrt_v_set1(al[r]);
        for (int v = 0; v < D; v++) {
            const float *p = y[r] + d0 + v * XFRT_VW;
            acc[r][v] = xfrt_v_mul(v == D - 1 && n < XFRT_VW ? xfrt_v_loadn(p, n) : xfrt_v_load(p), a);
        }
    }
    for (int j = 0; j < nk; j++) {
        XfrtV vv[XFRT_ATT_DV];
        for (int v = 0; v < D; v++) {
            const float *p = vr[j] + d0 + v * XFRT_VW;
            vv[v] = v == D - 1 && n < XFRT_VW ? xfrt_v_loadn(p, n) : xfrt_v_load(p);
        }
        for (int r = 0; r < R; r++) {
            XfrtV b = xfrt_v_set1(pt[(size_t)j * mp + r]);
            for (int v = 0; v < D; v++)
                acc[r][v] = xfrt_v_fma(b, vv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < D; v++) {
            float *p = y[r] + d0 + v * XFRT_VW;
            if (v == D - 1 && n < XFRT_VW)
                xfrt_v_storen(p, acc[r][v], n);
            else
                xfrt_v_store(p, acc[r][v]);
        }
}

/* The P V update of rows [m0, m0 + R), R a constant after inlining. */
XFRT_V_INLINE void xfrt_att_pv_rows(float *const *y, const float *al, const float *pt, int mp,
                                    const float *const *vr, int nk, int hd, int R)
{
    int d = 0, wide = XFRT_ATT_DV * XFRT_VW;
    for (; d + wide <= hd; d += wide)
        xfrt_att_pv(y, al, pt, mp, vr, nk, d, R, XFRT_ATT_DV, XFRT_VW);
    for (; d + XFRT_VW <= hd; d += XFRT_VW)
        xfrt_att_pv(y, al, pt, mp, vr, nk, d, R, 1, XFRT_VW);
    if (d < hd)
        xfrt_att_pv(y, al, pt, mp, vr, nk, d, R, 1, hd - d);
}

/* One block of M (<= XFRT_ATT_MQ) query vectors: vector m is q[m] at
 * position qp[m], its output y[m]; all read the KV head at kv_off.  qt_form:
 * scores from the transposed block (hd <= XFRT_ATT_QT_HD), else by dot
 * products. */
static void xfrt_attend_block(float *const *y, const float *const *q, const int32_t *qp, int M,
                              const XfrtKV *c, int kv_off, int hd, int causal, int window,
                              float scale, int qt_form)
{
    int mv = (M + XFRT_VW - 1) / XFRT_VW, mp = mv * XFRT_VW;
    float st[XFRT_ATT_BK * XFRT_ATT_MQ], mx[XFRT_ATT_MQ], l[XFRT_ATT_MQ], al[XFRT_ATT_MQ];
    float qt[XFRT_ATT_QT_HD * XFRT_ATT_MQ];     /* the transposed block, qt_form */
    float kt[XFRT_ATT_QT_HD * XFRT_ATT_BK];     /* a short last tile's keys, qt_form */
    size_t kv_dim = (size_t)c->kv_dim;
    for (int m = 0; m < mp; m++) {
        mx[m] = -INFINITY;
        l[m] = 0.0f;
    }
    for (int m = 0; m < M; m++)
        memset(y[m], 0, (size_t)hd * sizeof(float));
    if (qt_form)
        for (int d = 0; d < hd; d++)
            for (int m = 0; m < mp; m++)
                qt[(size_t)d * mp + m] = m < M ? q[m][d] : 0.0f;
    for (int j0 = 0; j0 < c->len; j0 += XFRT_ATT_BK) {
        int nk = c->len - j0 < XFRT_ATT_BK ? c->len - j0 : XFRT_ATT_BK;
        const int32_t *kp = c->pos + j0;
        int32_t kmin = kp[0], kmax = kp[0];
        for (int j = 1; j < nk; j++) {
            kmin = kp[j] < kmin ? kp[j] : kmin;
            kmax = kp[j] > kmax ? kp[j] : kmax;
        }
        /* what each vector sees of the tile: skip it when none sees a key */
        signed char sees[XFRT_ATT_MQ];
        int any = 0, all = nk == XFRT_ATT_BK;
        for (int m = 0; m < M; m++) {
            sees[m] = (signed char)(m && qp[m] == qp[m - 1] ? sees[m - 1]
                                                             : xfrt_att_sees(kmin, kmax, qp[m], causal, window));
            any |= sees[m] != 0;
            all &= sees[m] == 1;
        }
        if (!any)
            continue;
        /* key rows; past the cache's end, the last key again (masked) */
        const float *kr[XFRT_ATT_BK], *vr[XFRT_ATT_BK];
        for (int j = 0; j < XFRT_ATT_BK; j++) {
            size_t at = (size_t)(j0 + (j < nk ? j : nk - 1)) * kv_dim + (size_t)kv_off;
            kr[j] = c->k + at;
            vr[j] = c->v + at;
        }
        if (qt_form) {
            /* keys at a fixed stride: the cache, or a short last tile
             * copied to the stack with zero rows after it */
            const float *kb = kr[0];
            size_t ks = kv_dim;
            if (nk < XFRT_ATT_BK) {
                for (int j = 0; j < XFRT_ATT_BK; j++)
                    for (int d = 0; d < hd; d++)
                        kt[(size_t)j * hd + d] = j < nk ? kr[j][d] : 0.0f;
                kb = kt;
                ks = (size_t)hd;
            }
            for (int j = 0; j < XFRT_ATT_BK; j += XFRT_ATT_NK) {
                if (mv > 1)
                    xfrt_att_scores_qt(st + (size_t)j * mp, qt, kb + (size_t)j * ks, ks, hd, scale, 2);
                else
                    xfrt_att_scores_qt(st + (size_t)j * mp, qt, kb + (size_t)j * ks, ks, hd, scale, 1);
            }
        } else {
            for (int j = 0; j < XFRT_ATT_BK; j++)
                for (int m = 0; m < mp; m++)
                    st[(size_t)j * mp + m] = m < M && j < nk ? xfrt_att_dot(q[m], kr[j], hd) * scale : 0.0f;
        }
        if (!all)     /* mask what a vector does not see */
            for (int m = 0; m < M; m++) {
                if (sees[m] == 1 && nk == XFRT_ATT_BK)
                    continue;
                for (int j = 0; j < XFRT_ATT_BK; j++)
                    if (j >= nk || !sees[m] || (sees[m] == 2 && !xfrt_att_visible(kp[j], qp[m], causal, window)))
                        st[(size_t)j * mp + m] = -INFINITY;
            }
        /* online softmax, vectors across the block: a NaN score (only from
         * non-finite inputs) counts as masked; the tile's max joins the
         * running one; exp against it (-FLT_MAX while nothing is seen, so
         * masked keys give exactly 0 and an unseen tile is a no-op) */
        for (int v = 0; v < mv; v++) {
            XfrtV ninf = xfrt_v_set1(-INFINITY), mt = ninf;
            for (int j = 0; j < XFRT_ATT_BK; j++) {
                float *sp = st + (size_t)j * mp + v * XFRT_VW;
                XfrtV sv = xfrt_v_load(sp);
                sv = xfrt_v_ifnan(sv, ninf, sv);
                xfrt_v_store(sp, sv);
                mt = xfrt_v_max(mt, sv);
            }
            XfrtV mo = xfrt_v_load(mx + v * XFRT_VW), mn = xfrt_v_max(mo, mt);
            XfrtV mref = xfrt_v_max(mn, xfrt_v_set1(-3.40282347e38f));
            XfrtV alpha = xfrt_v_exp(xfrt_v_sub(mo, mref)), sum = xfrt_v_set1(0.0f);
            for (int j = 0; j < XFRT_ATT_BK; j++) {
                float *sp = st + (size_t)j * mp + v * XFRT_VW;
                XfrtV pv = xfrt_v_exp(xfrt_v_sub(xfrt_v_load(sp), mref));
                xfrt_v_store(sp, pv);
                sum = xfrt_v_add(sum, pv);
            }
            xfrt_v_store(mx + v * XFRT_VW, mn);
            xfrt_v_store(l + v * XFRT_VW, xfrt_v_fma(xfrt_v_load(l + v * XFRT_VW), alpha, sum));
            xfrt_v_store(al + v * XFRT_VW, alpha);
        }
        int m = 0;
        for (; m + XFRT_ATT_MR <= M; m += XFRT_ATT_MR)
            xfrt_att_pv_rows(y + m, al + m, st + m, mp, vr, nk, hd, XFRT_ATT_MR);
        for (; m < M; m++)
            xfrt_att_pv_rows(y + m, al + m, st + m, mp, vr, nk, hd, 1);
    }
    for (int m = 0; m < M; m++) {
        float inv = l[m] > 0.0f ? 1.0f / l[m] : 0.0f;     /* no visible key: zeros */
        for (int d = 0; d < hd; d++)
            y[m][d] *= inv;
    }
}

/* y must not overlap q: it is the accumulator while q is read. */
XFRT_API void xfrt_attention(float *y, const float *q, const XfrtKV *c, const int32_t *qpos,
                             int n, int heads, int kv_heads, int head_dim, int causal, int window)
{
    if (n <= 0 || heads <= 0)
        return;
    int group = kv_heads > 0 && heads >= kv_heads ? heads / kv_heads : 1;
    int n_kv = (heads + group - 1) / group;     /* query head h reads KV head h / group */
    float scale = (float)(1.0 / sqrt((double)head_dim));
    /* a block: rows x (a sub-group of gs heads); items are (row block, KV
     * head, sub-group), row block outermost */
    int gs = group < XFRT_ATT_MQ ? group : XFRT_ATT_MQ;
    int rows = XFRT_ATT_MQ / gs < n ? XFRT_ATT_MQ / gs : n;
    int n_sub = (group + gs - 1) / gs, n_rb = (n + rows - 1) / rows;
    int qt_form = head_dim <= XFRT_ATT_QT_HD && rows * gs > XFRT_VW / 2;
    long items = (long)n_rb * n_kv * n_sub;
    size_t width = (size_t)heads * head_dim;
    /* about 4 flops per (query head, key, lane): q.k, then p * v into y */
    long xfrt_first, xfrt_step;
    xfrt_stride((long)(items), 4.0 * n * heads * c->len * head_dim, &xfrt_first, &xfrt_step);
    for (long it = (long)xfrt_first; it < (items); it += (long)xfrt_step) {
        int rb = (int)(it / ((long)n_kv * n_sub)), rest = (int)(it % ((long)n_kv * n_sub));
        int g = rest / n_sub, sub = rest % n_sub;
        int h0 = g * group + sub * gs, h1 = (g + 1) * group < heads ? (g + 1) * group : heads;
        if (h1 > h0 + gs)
            h1 = h0 + gs;
        int i0 = rb * rows, i1 = i0 + rows < n ? i0 + rows : n, hn = h1 - h0, M = 0;
        if (hn <= 0)
            continue;
        float *yp[XFRT_ATT_MQ];
        const float *qp[XFRT_ATT_MQ];
        int32_t pp[XFRT_ATT_MQ];
        for (int i = i0; i < i1; i++)
            for (int h = h0; h < h1; h++, M++) {
                size_t at = (size_t)i * width + (size_t)h * head_dim;
                yp[M] = y + at;
                qp[M] = q + at;
                pp[M] = qpos[i];
            }
        xfrt_attend_block(yp, qp, pp, M, c, g * head_dim, head_dim, causal, window, scale, qt_form);
    }
}
