/* sched.c - pass "sched": where the threads of the call's one parallel
 * region must meet.
 *
 * Entry: the memory plan (after memplan).  Exit: XF_NODE_BARRIER marks each
 * kernel node before which every thread must have finished the kernels since
 * the previous barrier.  Every thread runs every kernel call, each on its
 * share of the loop and without a barrier of its own, so one is needed before
 * a kernel that reads bytes an unfinished kernel writes (read after write), or
 * writes arena bytes an unfinished kernel reads or writes (the memory plan
 * reuses bytes once their last reader has run).  Barriers inside a kernel
 * (the `syncs` column of ops.def: the KV-cache append, routing) end what came
 * before them.  Ranges are the planned byte ranges; a PART reads its group's
 * whole buffer, and the logits are written once and read by no kernel. */
#include <string.h>

#include "passes.h"

typedef struct {
    int64_t lo, hi;
} Range;

static bool overlaps(Range a, Range b) { return a.lo < b.hi && b.lo < a.hi; }

/* the arena bytes of the buffer that id's value lives in; empty if none */
static Range bytes_of(const XfGraph *g, XfId id)
{
    XfId b = ir_buffer_of(g, id);
    Range r = {0, 0};
    if (g->plan.offset[b] >= 0)
        r = (Range){g->plan.offset[b], g->plan.offset[b] + g->plan.size[b]};
    return r;
}

static bool any_overlap(const Range *set, uint32_t n, Range r)
{
    if (r.lo >= r.hi)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (overlaps(set[i], r))
            return true;
    return false;
}

bool pass_sched(XfGraph *g, XfPassCtx *cx)
{
    XF_ASSERT(g->plan.done);
    uint32_t cap = 2 * (g->n_nodes + 1) * (XF_MAX_ARITY + 1);
    Range *rd = xf_arena_alloc(cx->scratch, cap * sizeof *rd);
    Range *wr = xf_arena_alloc(cx->scratch, (g->n_nodes + 1) * sizeof *wr);
    uint32_t n_rd = 0, n_wr = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        XfNode *x = &g->nodes[id];
        x->flags &= ~(uint32_t)XF_NODE_BARRIER;
        const XfOpInfo *info = &xf_op_info[x->op];
        if (!info->calls)
            continue;
        Range out = g->plan.offset[id] >= 0
                        ? (Range){g->plan.offset[id], g->plan.offset[id] + g->plan.size[id]}
                        : (Range){0, 0};
        bool need = any_overlap(rd, n_rd, out) || any_overlap(wr, n_wr, out);
        for (int i = 0; i < x->n_in && !need; i++)
            need = any_overlap(wr, n_wr, bytes_of(g, x->in[i]));
        if (need) {
            x->flags |= XF_NODE_BARRIER;
            n_rd = n_wr = 0;
        }
        if (info->syncs)
            n_rd = n_wr = 0;
        for (int i = 0; i < x->n_in; i++) {
            Range r = bytes_of(g, x->in[i]);
            if (r.lo < r.hi)
                rd[n_rd++] = r;
        }
        if (out.lo < out.hi)
            wr[n_wr++] = out;
        XF_ASSERT(n_rd < cap);
    }
    return true;
}
