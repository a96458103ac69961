/* kernels_attention.c - the KV cache and attention over it.
 *
 * Each (query row, head) is computed by one thread in one pass over the cache
 * with an online softmax: the output row itself holds the running weighted
 * sum of v, rescaled whenever a larger score appears, so no scratch memory is
 * needed.  Keys are visited in cache order, so results do not depend on the
 * number of threads.
 *
 * The unit of parallel work is (query row, KV head): the query heads that
 * share a KV head are processed together, so each K/V row is read once per
 * group, and a few keys are scored at a time (independent dot products) before
 * the softmax updates, which then run per head in key order.  Each head's
 * arithmetic is exactly that of one head alone, in the same order.  Work items
 * are dealt out interleaved (item i to thread i mod T), because under a causal
 * mask a row's cost grows with its position. */
#include <math.h>
#include <string.h>

#include "xfrt.h"

#include "xfrt_lanes.h"

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

/* Keys scored per step, and query heads of one KV group handled together
 * (a larger group is split into sub-groups of this many). */
#define XFRT_ATT_KEYS 8
#define XFRT_ATT_HEADS 8

static inline int xfrt_att_visible(int32_t kp, int32_t qpos, int causal, int window)
{
    if (causal && kp > qpos)
        return 0;
    if (window > 0 && ((int64_t)qpos - kp >= window || (int64_t)kp - qpos >= window))
        return 0;
    return 1;
}

/* G (<= XFRT_ATT_HEADS) adjacent query heads sharing the KV head at kv_off,
 * against the cache: y[h][hd] = softmax(q[h] . k / sqrt(hd)) v, for h < G. */
static inline void xfrt_attend_group(float *y, const float *q, const XfrtKV *c, int32_t qpos,
                                     int kv_off, int G, int head_dim, int causal, int window,
                                     float scale)
{
    float m[XFRT_ATT_HEADS], l[XFRT_ATT_HEADS], s[XFRT_ATT_HEADS][XFRT_ATT_KEYS];
    int32_t keys[XFRT_ATT_KEYS];
    size_t kv_dim = (size_t)c->kv_dim;
    for (int h = 0; h < G; h++) {
        m[h] = -INFINITY;
        l[h] = 0.0f;
        for (int d = 0; d < head_dim; d++)
            y[(size_t)h * head_dim + d] = 0.0f;
    }
    for (int j = 0; j < c->len;) {
        int nk = 0;     /* the next visible keys, in cache order */
        for (; j < c->len && nk < XFRT_ATT_KEYS; j++)
            if (xfrt_att_visible(c->pos[j], qpos, causal, window))
                keys[nk++] = j;
        for (int h = 0; h < G; h++)
            for (int b = 0; b < nk; b++)
                s[h][b] = xfrt_dot(q + (size_t)h * head_dim,
                                   c->k + (size_t)keys[b] * kv_dim + kv_off, head_dim) * scale;
        for (int h = 0; h < G; h++) {
            float *yh = y + (size_t)h * head_dim;
            for (int b = 0; b < nk; b++) {
                float sc = s[h][b];
                if (isnan(sc) || sc == -INFINITY)   /* only from non-finite inputs: skip */
                    continue;
                const float *vr = c->v + (size_t)keys[b] * kv_dim + kv_off;
                if (sc > m[h]) {
                    /* a new maximum: rescale what was summed so far (exp(-inf) = 0) */
                    float alpha = expf(m[h] - sc);
                    m[h] = sc;
                    l[h] *= alpha;
                    for (int d = 0; d < head_dim; d++)
                        yh[d] *= alpha;
                }
                float p = expf(sc - m[h]);
                l[h] += p;
                for (int d = 0; d < head_dim; d++)
                    yh[d] += p * vr[d];
            }
        }
    }
    for (int h = 0; h < G; h++) {
        float inv = l[h] > 0.0f ? 1.0f / l[h] : 0.0f;     /* no visible key: zeros */
        for (int d = 0; d < head_dim; d++)
            y[(size_t)h * head_dim + d] *= inv;
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
    long items = (long)n * n_kv;
    size_t width = (size_t)heads * head_dim;
    /* about 4 flops per (query head, key, lane): q.k, then p * v into y */
    long xfrt_first, xfrt_step;
    xfrt_stride((long)(items), 4.0 * n * heads * c->len * head_dim, &xfrt_first, &xfrt_step);
    for (long it = (long)xfrt_first; it < (items); it += (long)xfrt_step) {
        int i = (int)(it / n_kv), g = (int)(it % n_kv);
        int h1 = (g + 1) * group < heads ? (g + 1) * group : heads;
        for (int h0 = g * group; h0 < h1; h0 += XFRT_ATT_HEADS) {
            size_t at = (size_t)i * width + (size_t)h0 * head_dim;
            xfrt_attend_group(y + at, q + at, c, qpos[i], g * head_dim,
                              h1 - h0 < XFRT_ATT_HEADS ? h1 - h0 : XFRT_ATT_HEADS, head_dim,
                              causal, window, scale);
        }
    }
}
