/* stats.c - pass "stats": parameters and FLOPs per token.
 *
 * Entry: planned bounds (after topk-plan).  Exit: cx->stats holds, per block
 * instance and in total, FLOPs per token of a full-context forward (T =
 * context) and parameters, total and activated per token.  Conventions
 * (docs/ir.md): a matrix product costs 2*in*out per row; attention costs
 * 4*heads*head_dim per visible key (QK and PV), averaged over the T query
 * positions; elementwise ops one FLOP per output element.  A stream's rate is
 * its rows per token: MoD k/T, MoE assignments/T; the dense equivalent runs
 * every MoD instance on all tokens and every MoE expert on every token.
 * Activated parameters: the share of each weight one token reads (one row of
 * an embedding table, top_k/experts of an expert stack, M/hidden of a sparse
 * FFN's units, times the stream's rate when below 1). */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

static double rate(const XfGraph *g, int s, bool dense)
{
    if (s <= 1)
        return 1.0;
    const XfStream *st = &g->streams[s];
    double parent = rate(g, st->parent, dense);
    if (dense)
        return st->kind == XF_STREAM_MOE ? parent * (double)st->experts : parent;
    return parent * (double)ir_stream_bound(g, s) / (double)ir_stream_bound(g, st->parent);
}

/* Key positions query p (0 <= p < T) is denied by a window of w on its left,
 * summed over all p: sum of max(0, w - 1 - p) = m(w-1) - m(m-1)/2, m = min(T, w-1). */
static double clipped_keys(double T, double w)
{
    double m = T < w - 1 ? T : w - 1;
    return m * (w - 1) - m * (m - 1) / 2;
}

/* Average number of keys a query sees in a full forward of T rows, in closed
 * form (no loop over positions: compile time must not grow with context).
 * Query p sees keys [lo, hi]: causal hi = p, else T - 1; a window w > 0 makes
 * lo = max(0, p - w + 1) and, bidirectionally, hi = min(T - 1, p + w - 1). */
static double avg_keys(int64_t T_, const XfAttrs *a)
{
    if (T_ <= 0)
        return 0;
    double T = (double)T_, w = (double)a->window, sum;
    if (a->causal)
        sum = a->window > 0 && a->window < T_ ? w * (w + 1) / 2 + (T - w) * w   /* min(p+1, w) */
                                             : T * (T + 1) / 2;
    else if (a->window > 0)
        sum = T * (2 * w - 1) - 2 * clipped_keys(T, w);     /* both sides clip symmetrically */
    else
        sum = T * T;
    return sum / T;
}

static double flops_per_row(const XfGraph *g, const XfNode *x, bool dense)
{
    const XfNode *in0 = x->n_in ? &g->nodes[x->in[0]] : NULL;
    int64_t last = x->shape.dim[x->shape.rank - 1];
    switch (x->op) {
    case XF_OP_TOKENS: case XF_OP_POSITIONS: case XF_OP_WEIGHT: case XF_OP_EMBED:
    case XF_OP_GATHER: case XF_OP_MOE_GATHER: case XF_OP_MOD_SELECT:
        return 0;
    case XF_OP_LINEAR:
    case XF_OP_GROUPED_LINEAR:
        return 2.0 * (double)in0->shape.dim[1] * (double)last;
    case XF_OP_ATTENTION: {
        int s = x->shape.stream;
        int64_t T = dense ? g->context : ir_stream_bound(g, s);
        return 4.0 * (double)x->attr.heads * (double)x->attr.head_dim * avg_keys(T, &x->attr);
    }
    case XF_OP_MOE_ROUTE:
        return 3.0 * (double)x->attr.experts;
    case XF_OP_SFFN_APPLY: {
        int64_t h = g->nodes[x->in[2]].shape.dim[0], d = g->nodes[x->in[2]].shape.dim[1];
        int64_t M = g->nodes[x->in[1]].shape.dim[1];
        return dense ? 4.0 * (double)h * (double)d : 4.0 * (double)M * (double)d;
    }
    case XF_OP_RMSNORM: return 3.0 * (double)last;
    case XF_OP_LAYERNORM: return 5.0 * (double)last;
    default:
        return (double)last;
    }
}

/* share of weight input i of x that one row of x reads */
static double weight_share(const XfGraph *g, const XfNode *x, int i)
{
    const XfNode *w = &g->nodes[x->in[i]];
    switch (x->op) {
    case XF_OP_EMBED:
        return 1.0 / (double)w->shape.dim[0];
    case XF_OP_GROUPED_LINEAR:
        return 1.0 / (double)w->shape.dim[0];
    case XF_OP_SFFN_APPLY:
        if (i == 5)
            return 1.0;
        return (double)g->nodes[x->in[1]].shape.dim[1] / (double)g->nodes[x->in[2]].shape.dim[0];
    default:
        return 1.0;
    }
}

bool pass_stats(XfGraph *g, XfPassCtx *cx)
{
    XfStats *st = &cx->stats;
    int nb = 0;
    for (XfId id = 1; id <= g->n_nodes; id++)
        if (g->nodes[id].block + 1 > nb)
            nb = g->nodes[id].block + 1;
    free(st->block);
    memset(st, 0, sizeof *st);
    st->n_blocks = nb;
    st->block = xf_xcalloc((size_t)(nb ? nb : 1), sizeof(XfCost));
    /* activated share of each weight: the largest any consumer reads per token */
    double *share = xf_arena_alloc(cx->scratch, (g->n_nodes + 1) * sizeof *share);
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->flags & XF_NODE_DEAD)
            continue;
        XfCost *c = x->block >= 0 ? &st->block[x->block] : &st->outside;
        c->flops += flops_per_row(g, x, false) * rate(g, x->shape.stream, false);
        c->flops_dense += flops_per_row(g, x, true) * rate(g, x->shape.stream, true);
        for (int i = 0; i < x->n_in; i++) {
            if (g->nodes[x->in[i]].op != XF_OP_WEIGHT)
                continue;
            double r = rate(g, x->shape.stream, false), s = weight_share(g, x, i);
            if (x->op == XF_OP_GROUPED_LINEAR)   /* rate counts assignments: top_k of experts */
                s *= r, r = 1.0;
            s *= r < 1.0 ? r : 1.0;
            if (s > 1.0)
                s = 1.0;
            if (s > share[x->in[i]])
                share[x->in[i]] = s;
        }
    }
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *w = &g->nodes[id];
        if (w->op != XF_OP_WEIGHT || (w->flags & XF_NODE_DEAD))
            continue;
        XfCost *c = w->block >= 0 ? &st->block[w->block] : &st->outside;
        double e = (double)ir_shape_elems(&w->shape);
        c->params += e;
        c->params_active += e * share[id];
    }
    st->total = st->outside;
    for (int b = 0; b < nb; b++) {
        st->total.flops += st->block[b].flops;
        st->total.flops_dense += st->block[b].flops_dense;
        st->total.params += st->block[b].params;
        st->total.params_active += st->block[b].params_active;
    }
    return true;
}

static void row(FILE *out, const char *name, const XfCost *c)
{
    fprintf(out, "%-12s %14.0f %14.0f %16.0f %16.0f %7.3f\n", name, c->params, c->params_active,
            c->flops, c->flops_dense, c->flops_dense > 0 ? c->flops / c->flops_dense : 1.0);
}

void pass_stats_print(const XfGraph *g, const XfStats *st, FILE *out)
{
    fprintf(out, "model %s: %lld block instances, context %lld\n", g->model_name,
            (long long)st->n_blocks, (long long)g->context);
    fprintf(out, "%-12s %14s %14s %16s %16s %7s\n", "", "params", "active/token", "FLOPs/token",
            "dense FLOPs/tok", "ratio");
    for (int b = 0; b < st->n_blocks; b++) {
        char name[32];
        snprintf(name, sizeof name, "block %d", b);
        row(out, name, &st->block[b]);
    }
    row(out, "embed+head", &st->outside);
    row(out, "total", &st->total);
    if (g->plan.done)
        fprintf(out, "memory: activation arena %lld bytes (peak), KV caches %lld bytes\n",
                (long long)g->plan.arena_bytes, (long long)g->plan.kv_bytes);
}
