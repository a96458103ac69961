/* kernels_attention.c - the KV cache and attention over it.
 *
 * Each (query row, head) is computed by one thread in one pass over the cache
 * with an online softmax: the output row itself holds the running weighted
 * sum of v, rescaled whenever a larger score appears, so no scratch memory is
 * needed.  Keys are visited in cache order, so results do not depend on the
 * number of threads. */
#include <math.h>
#include <string.h>

#include "xfrt.h"

#include "xfrt_lanes.h"

XFRT_API void xfrt_kv_append(XfrtKV *c, const float *k, const float *v, const int32_t *pos, int n)
{
    if (n <= 0)
        return;
    size_t row = (size_t)c->kv_dim;
    memcpy(c->k + (size_t)c->len * row, k, (size_t)n * row * sizeof(float));
    memcpy(c->v + (size_t)c->len * row, v, (size_t)n * row * sizeof(float));
    memcpy(c->pos + c->len, pos, (size_t)n * sizeof(int32_t));
    c->len += n;
}

/* One query head against the cache: y[hd] = softmax(q . k / sqrt(hd)) v. */
static inline void xfrt_attend_one(float *y, const float *q, const XfrtKV *c, int32_t qpos,
                                   int kv_off, int head_dim, int causal, int window, float scale)
{
    float m = -INFINITY, l = 0.0f;
    for (int d = 0; d < head_dim; d++)
        y[d] = 0.0f;
    for (int j = 0; j < c->len; j++) {
        int32_t kp = c->pos[j];
        if (causal && kp > qpos)
            continue;
        if (window > 0 && ((int64_t)qpos - kp >= window || (int64_t)kp - qpos >= window))
            continue;
        const float *kr = c->k + (size_t)j * c->kv_dim + kv_off;
        const float *vr = c->v + (size_t)j * c->kv_dim + kv_off;
        float s = xfrt_dot(q, kr, head_dim) * scale;
        if (isnan(s) || s == -INFINITY)     /* only from non-finite inputs: skip */
            continue;
        if (s > m) {
            /* a new maximum: rescale what was summed so far (exp(-inf) = 0) */
            float alpha = expf(m - s);
            m = s;
            l *= alpha;
            for (int d = 0; d < head_dim; d++)
                y[d] *= alpha;
        }
        float p = expf(s - m);
        l += p;
        for (int d = 0; d < head_dim; d++)
            y[d] += p * vr[d];
    }
    float inv = l > 0.0f ? 1.0f / l : 0.0f;     /* no visible key: zeros */
    for (int d = 0; d < head_dim; d++)
        y[d] *= inv;
}

/* y must not overlap q: it is the accumulator while q is read. */
XFRT_API void xfrt_attention(float *y, const float *q, const XfrtKV *c, const int32_t *qpos,
                             int n, int heads, int kv_heads, int head_dim, int causal, int window)
{
    if (n <= 0 || heads <= 0)
        return;
    int group = kv_heads > 0 && heads >= kv_heads ? heads / kv_heads : 1;
    float scale = (float)(1.0 / sqrt((double)head_dim));
    long items = (long)n * heads;
    size_t width = (size_t)heads * head_dim;
    XFRT_PARALLEL_FOR
    for (long it = 0; it < items; it++) {
        int i = (int)(it / heads), h = (int)(it % heads);
        xfrt_attend_one(y + (size_t)i * width + (size_t)h * head_dim,
                        q + (size_t)i * width + (size_t)h * head_dim, c, qpos[i],
                        (h / group) * head_dim, head_dim, causal, window, scale);
    }
}
