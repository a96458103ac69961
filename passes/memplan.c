/* memplan.c - pass "memplan": every activation in one arena.
 *
 * Entry: shapes at their planned bounds (after topk-plan).  Exit: plan.offset
 * and plan.size give each buffer's bytes in the arena (-1: not in it: weights
 * are mmapped, tokens and logits are the caller's, an alias views its
 * input's buffer), plan.arena_bytes the peak.
 * Idea: walk nodes in execution order; a buffer lives from its definition to
 * its last use (a use of an alias is a use of the buffer it views); it takes
 * the lowest 64-byte-aligned gap that overlaps no buffer live at that point.  An output never shares bytes with its own
 * inputs, because inputs are released only after the output is placed. */
#include <stdlib.h>

#include "passes.h"

#define ALIGN 64

static bool in_arena(const XfGraph *g, XfId id)
{
    const XfNode *x = &g->nodes[id];
    return xf_op_info[x->op].mem == XF_MEM_ARENA && !(x->flags & XF_NODE_OUTPUT);
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
        int64_t size = (ir_node_bytes(g, id) + ALIGN - 1) / ALIGN * ALIGN;
        /* first fit among the gaps between live buffers (live[] ordered by offset) */
        int64_t off = 0;
        uint32_t at = 0;
        for (; at < n_live; at++) {
            XfId o = live[at];
            if (off + size <= p->offset[o])
                break;
            if (p->offset[o] + p->size[o] > off)
                off = p->offset[o] + p->size[o];
        }
        for (uint32_t j = n_live; j > at; j--)
            live[j] = live[j - 1];
        live[at] = id;
        n_live++;
        p->offset[id] = off;
        p->size[id] = size;
        if (off + size > peak)
            peak = off + size;
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
        if (x->op == XF_OP_ATTENTION)
            p->kv_bytes += g->context * (2 * x->attr.kv_heads * x->attr.head_dim + 1) * 4;
    }
    p->done = true;
    return true;
}
