/* memplan.c - pass "memplan": every activation in one arena.
 *
 * Entry: shapes at their planned bounds (after topk-plan).  Exit: plan.offset
 * and plan.size give each buffer's bytes in the arena (-1: not in it: weights
 * are mmapped, tokens and logits are the caller's, an alias views its
 * input's buffer), plan.arena_bytes the peak.
 * Idea: walk nodes in execution order; a buffer lives from its definition to
 * its last use (a use of an alias is a use of the buffer it views); it takes
 * the lowest 64-byte-aligned gap that overlaps no buffer live at that point.  An output never shares bytes with its own
 * inputs, because inputs are released only after the output is placed, except
 * where a fused combine writes over its dead base (in_place_base). */
#include <stdlib.h>

#include "passes.h"

#define ALIGN 64

static bool in_arena(const XfGraph *g, XfId id)
{
    const XfNode *x = &g->nodes[id];
    return xf_op_info[x->op].mem == XF_MEM_ARENA && !(x->flags & XF_NODE_OUTPUT);
}

/* A fused combine (pass fuse) may write its token rows over its base x when
 * this is x's last use: each output element is then read from x and written
 * by the same thread (and rows not routed are already in place).  x must be
 * a buffer of its own, of the output's size, that no other operand reads. */
static XfId in_place_base(const XfGraph *g, XfId id, const XfId *last)
{
    const XfNode *x = &g->nodes[id];
    if (x->op != XF_OP_FUSED || x->attr.fuse->combine == XF_COMBINE_NONE || x->attr.fuse->base < 0)
        return 0;
    XfId b = x->in[x->attr.fuse->base];
    if (!in_arena(g, b) || ir_buffer_of(g, b) != b || g->plan.offset[b] < 0 || last[b] != id ||
        ir_node_bytes(g, b) != ir_node_bytes(g, id))
        return 0;
    for (int i = 0; i < x->n_in; i++)
        if (i != x->attr.fuse->base && ir_buffer_of(g, x->in[i]) == b)
            return 0;
    return b;
}

/* The arena's bytes do not fit in int64 once id's buffer is placed. */
static bool arena_overflow(const XfGraph *g, XfPassCtx *cx, XfId id)
{
    pass_error(cx, g, g->nodes[id].loc, "the activation arena overflows 64 bits here: the "
               "buffers live at this point, at context %lld and dim %lld, need more than "
               "%lld bytes (lower context or dim)", (long long)g->context, (long long)g->dim,
               (long long)INT64_MAX);
    return false;
}

bool pass_memplan(XfGraph *g, XfPassCtx *cx)
{
    uint32_t n = g->n_nodes;
    XfMemPlan *p = &g->plan;
    free(p->offset);
    free(p->size);
    p->offset = xf_xmalloc((n + 1) * sizeof *p->offset);
    p->size = xf_xcalloc(n + 1, sizeof *p->size);
    XfId *last = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *last);
    for (XfId id = 1; id <= n; id++) {
        last[id] = id;
        for (int i = 0; i < g->nodes[id].n_in; i++)
            last[ir_buffer_of(g, g->nodes[id].in[i])] = id;
    }
    XfId *live = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *live);   /* sorted by offset */
    uint32_t n_live = 0;
    int64_t peak = 0;
    for (XfId id = 1; id <= n; id++) {
        p->offset[id] = -1;
        if (!in_arena(g, id))
            continue;
        XfId base = in_place_base(g, id, last);
        if (base) {         /* x's bytes become the output's */
            p->offset[id] = p->offset[base];
            p->size[id] = p->size[base];
            for (uint32_t j = 0; j < n_live; j++)
                if (live[j] == base)
                    live[j] = id;
            uint32_t k = 0;
            for (uint32_t j = 0; j < n_live; j++)
                if (last[live[j]] > id || live[j] == id)
                    live[k++] = live[j];
            n_live = k;
            continue;
        }
        int64_t bytes = ir_node_bytes(g, id), size = 0;
        if (bytes > INT64_MAX - ALIGN)
            return arena_overflow(g, cx, id);
        size = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        /* first fit among the gaps between live buffers (live[] ordered by offset) */
        int64_t off = 0;
        uint32_t at = 0;
        for (; at < n_live; at++) {
            XfId o = live[at];
            int64_t end;
            if (xf_add_overflow(off, size, &end))
                return arena_overflow(g, cx, id);
            if (end <= p->offset[o])
                break;
            if (p->offset[o] + p->size[o] > off)   /* placed before: cannot overflow */
                off = p->offset[o] + p->size[o];
        }
        int64_t end;
        /* the generated C allocates the peak rounded up plus ALIGN: keep 2 * ALIGN spare */
        if (xf_add_overflow(off, size, &end) || end > INT64_MAX - 2 * ALIGN)
            return arena_overflow(g, cx, id);
        for (uint32_t j = n_live; j > at; j--)
            live[j] = live[j - 1];
        live[at] = id;
        n_live++;
        p->offset[id] = off;
        p->size[id] = size;
        if (end > peak)
            peak = end;
        /* release what dies here (after placing the output) */
        uint32_t k = 0;
        for (uint32_t j = 0; j < n_live; j++)
            if (last[live[j]] > id || live[j] == id)
                live[k++] = live[j];
        n_live = k;
    }
    p->arena_bytes = peak;
    p->kv_bytes = 0;
    for (XfId id = 1; id <= n; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->op != XF_OP_ATTENTION)
            continue;
        /* context rows of K and V (kv_heads * head_dim floats each) and a position */
        int64_t b;
        if (xf_mul_overflow(x->attr.kv_heads, x->attr.head_dim, &b) || xf_mul_overflow(b, 2, &b) ||
            xf_add_overflow(b, 1, &b) || xf_mul_overflow(b, g->context, &b) ||
            xf_mul_overflow(b, 4, &b) || xf_add_overflow(p->kv_bytes, b, &p->kv_bytes)) {
            pass_error(cx, g, x->loc, "the KV caches overflow 64 bits at this attention: context "
                       "%lld * (2 * kv_heads %lld * head_dim %lld + 1) * 4 bytes, summed over "
                       "the attention layers so far (lower context or the number of layers)",
                       (long long)g->context, (long long)x->attr.kv_heads,
                       (long long)x->attr.head_dim);
            return false;
        }
    }
    p->done = true;
    return true;
}
