/* kernels_gemm.c - weight matrices in the panel layout of xfrt_gemm.h: packing
 * (once, in the generated open), stack views and the row accessor the
 * embedding gather uses.  The layouts are described beside XfrtMat in xfrt.h. */
#include <stdlib.h>
#include <string.h>

#include "xfrt.h"

#include "xfrt_isa.h"
#include "xfrt_wfmt.h"
#include "xfrt_lanes.h"
#include "xfrt_vmath.h"
#include "xfrt_gemm.h"

static inline size_t xfrt_mat_round64(size_t b) { return (b + 63) / 64 * 64; }

static inline size_t xfrt_mat_panel_bytes(int fmt, int cols, int nr)
{
    size_t c = (size_t)(cols > 0 ? cols : 0), r = (size_t)(nr > 0 ? nr : 1);
    if (fmt == XFRT_WF_BF16)
        return r == 1 ? c * 2 : xfrt_mat_round64(c * r * 2);
    if (fmt == XFRT_WF_Q8) {
        size_t blocks = (c + XFRT_Q8_BLOCK - 1) / XFRT_Q8_BLOCK;
        return r == 1 ? blocks * XFRT_Q8_BLOCK_BYTES(1) : xfrt_mat_round64(blocks * XFRT_Q8_BLOCK_BYTES(r));
    }
    return r == 1 ? c * 4 : xfrt_mat_round64(c * r * 4);
}

/* panels of one matrix, and its bytes (a row-major matrix, nr = 1, is one
 * padded block: its rows follow each other without padding) */
static inline size_t xfrt_mat_matrix_bytes(int fmt, int rows, int cols, int nr)
{
    size_t r = (size_t)(nr > 0 ? nr : 1), panels = ((size_t)(rows > 0 ? rows : 0) + r - 1) / r;
    return xfrt_mat_round64(panels * xfrt_mat_panel_bytes(fmt, cols, nr));
}

XFRT_API size_t xfrt_mat_bytes(int fmt, int experts, int rows, int cols, int nr)
{
    if (fmt == XFRT_WF_F32 && nr == 1)
        return 0;
    return (size_t)(experts > 0 ? experts : 0) * xfrt_mat_matrix_bytes(fmt, rows, cols, nr);
}

/* One row of w (or, for a bf16 matrix, of wh: bfloat16 values as stored)
 * into panel slot j of a panel (nr wide) at pp. */
static inline void xfrt_mat_put_row(unsigned char *pp, int fmt, int nr, int j, const float *w,
                                    const uint16_t *wh, int cols)
{
    if (wh) {
        uint16_t *h = (uint16_t *)(void *)pp;
        for (int k = 0; k < cols; k++)
            h[(size_t)k * nr + j] = wh[k];
    } else if (fmt == XFRT_WF_BF16) {
        uint16_t *h = (uint16_t *)(void *)pp;
        for (int k = 0; k < cols; k++)
            h[(size_t)k * nr + j] = xfrt_bf16_round(w[k]);
    } else if (fmt == XFRT_WF_Q8) {
        int8_t q[XFRT_Q8_BLOCK];
        for (int k = 0; k < cols; k += XFRT_Q8_BLOCK) {
            int len = cols - k < XFRT_Q8_BLOCK ? cols - k : XFRT_Q8_BLOCK;
            unsigned char *bb = pp + (size_t)(k / XFRT_Q8_BLOCK) * XFRT_Q8_BLOCK_BYTES(nr);
            float s = xfrt_q8_block(w + k, len, q);
            memcpy(bb + 4 * (size_t)j, &s, sizeof s);
            for (int t = 0; t < len; t++)
                bb[4 * (size_t)nr + (size_t)t * nr + j] = (unsigned char)q[t];
        }
    } else {
        float *f = (float *)(void *)pp;
        for (int k = 0; k < cols; k++)
            f[(size_t)k * nr + j] = w[k];
    }
}

static int xfrt_mat_pack_from(XfrtMat *m, const float *w, const uint16_t *wh, int experts,
                              int rows, int cols, int fmt, int nr)
{
    memset(m, 0, sizeof *m);
    m->fmt = fmt;
    m->rows = rows;
    m->cols = cols;
    m->nr = nr > 0 ? nr : 1;
    m->experts = experts;
    m->panel_bytes = xfrt_mat_panel_bytes(fmt, cols, m->nr);
    m->matrix_bytes = fmt == XFRT_WF_F32 && m->nr == 1 ? (size_t)rows * cols * sizeof(float)
                                                        : xfrt_mat_matrix_bytes(fmt, rows, cols, m->nr);
    if (fmt == XFRT_WF_F32 && m->nr == 1) {    /* row-major fp32: the source as it is */
        m->data = (const unsigned char *)w;
        return 0;
    }
    size_t bytes = xfrt_mat_bytes(fmt, experts, rows, cols, m->nr);
    unsigned char *mem = bytes ? aligned_alloc(64, bytes) : NULL;
    if (bytes && !mem)
        return -1;
    if (bytes)
        memset(mem, 0, bytes);  /* padding rows: zero weights (q8: zero scales) */
    for (int e = 0; e < experts; e++)
        for (int r = 0; r < rows; r++) {
            unsigned char *pp = mem + (size_t)e * m->matrix_bytes + (size_t)(r / m->nr) * m->panel_bytes;
            if (m->nr == 1)     /* rows back to back */
                pp = mem + (size_t)e * m->matrix_bytes + (size_t)r * m->panel_bytes;
            size_t at = ((size_t)e * rows + r) * cols;
            xfrt_mat_put_row(pp, fmt, m->nr, r % m->nr, w ? w + at : NULL, wh ? wh + at : NULL, cols);
        }
    m->data = mem;
    m->owned = mem;
    return 0;
}

XFRT_API int xfrt_mat_pack(XfrtMat *m, const float *w, int experts, int rows, int cols, int fmt,
                           int nr)
{
    return xfrt_mat_pack_from(m, w, NULL, experts, rows, cols, fmt, nr);
}

XFRT_API int xfrt_mat_pack_bf16(XfrtMat *m, const uint16_t *w, int experts, int rows, int cols, int nr)
{
    return xfrt_mat_pack_from(m, NULL, w, experts, rows, cols, XFRT_WF_BF16, nr);
}

XFRT_API void xfrt_mat_free(XfrtMat *m)
{
    if (!m)
        return;
    free(m->owned);
    memset(m, 0, sizeof *m);
}

XFRT_API XfrtMat xfrt_mat_expert(const XfrtMat *m, int e)
{
    XfrtMat v = *m;
    v.data = m->data + (size_t)e * m->matrix_bytes;
    v.experts = 1;
    v.owned = NULL;
    return v;
}

XFRT_API void xfrt_mat_row(const XfrtMat *m, int row, float *dst)
{
    int nr = m->nr, j = row % nr, cols = m->cols;
    const unsigned char *pp = m->data + (size_t)(row / nr) * m->panel_bytes;
    if (nr == 1)
        pp = m->data + (size_t)row * m->panel_bytes;
    if (m->fmt == XFRT_WF_F32 && nr == 1) {
        memcpy(dst, pp, (size_t)cols * sizeof *dst);
    } else if (m->fmt == XFRT_WF_BF16) {
        const uint16_t *h = (const uint16_t *)(const void *)pp;
        for (int k = 0; k < cols; k++)
            dst[k] = xfrt_bf16_widen(h[(size_t)k * nr + j]);
    } else if (m->fmt == XFRT_WF_Q8) {
        for (int k = 0; k < cols; k += XFRT_Q8_BLOCK) {
            int len = cols - k < XFRT_Q8_BLOCK ? cols - k : XFRT_Q8_BLOCK;
            const unsigned char *bb = pp + (size_t)(k / XFRT_Q8_BLOCK) * XFRT_Q8_BLOCK_BYTES(nr);
            float s;
            memcpy(&s, bb + 4 * (size_t)j, sizeof s);
            const int8_t *q = (const int8_t *)(const void *)(bb + 4 * (size_t)nr);
            for (int t = 0; t < len; t++)
                dst[k + t] = xfrt_q8_value(q[(size_t)t * nr + j], s);
        }
    } else {
        const float *f = (const float *)(const void *)pp;
        for (int k = 0; k < cols; k++)
            dst[k] = f[(size_t)k * nr + j];
    }
}

XFRT_API int xfrt_panel_width(void) { return XFRT_NR; }

XFRT_API size_t xfrt_gemm_ws_floats(void)
{
    return (size_t)XFRT_MC * XFRT_KC + 2 * (size_t)XFRT_MC * XFRT_NC;
}

XFRT_API int xfrt_gemm_ws_attach(XfrtMat *mats, int n, float **ws)
{
    int nt = xfrt_max_threads() > 0 ? xfrt_max_threads() : 1;
    *ws = (float *)aligned_alloc(64, xfrt_mat_round64((size_t)nt * xfrt_gemm_ws_floats() * sizeof(float)));
    if (!*ws)
        return -1;
    for (int i = 0; i < n; i++) {
        mats[i].ws = *ws;
        mats[i].ws_threads = nt;
    }
    return 0;
}
