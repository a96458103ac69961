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

static double rate(const XfGraph *g, int s, bool dense);

double pass_stats_rate(const XfGraph *g, uint32_t s, bool dense)
{
    return rate(g, (int)s, dense);
}

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

/* ---- FLOPs per output row and weight shares (the flops and share columns of
 * ops.def).  `dense`: as if nothing were routed. */
typedef double FlopsFn(const XfGraph *g, const XfNode *x, bool dense);
typedef double ShareFn(const XfGraph *g, const XfNode *x, int i);

static int64_t last_dim(const XfNode *x) { return x->shape.dim[x->shape.rank - 1]; }

static double flops_zero(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)g, (void)x, (void)dense;
    return 0;
}

static double flops_elementwise(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)g, (void)dense;
    return (double)last_dim(x);
}

/* the weighted sum (one FLOP per element, as elementwise ops), and the
 * residual add when one is folded in */
static double flops_moe_combine(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)g, (void)dense;
    return (double)last_dim(x) * (x->n_in == 3 ? 2.0 : 1.0);
}

static double flops_rmsnorm(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)g, (void)dense;
    return 3.0 * (double)last_dim(x);
}

static double flops_layernorm(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)g, (void)dense;
    return 5.0 * (double)last_dim(x);
}

static double flops_matmul(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)dense;
    return 2.0 * (double)g->nodes[x->in[0]].shape.dim[1] * (double)last_dim(x);
}

static double flops_attention(const XfGraph *g, const XfNode *x, bool dense)
{
    int64_t T = dense ? g->context : ir_stream_bound(g, x->shape.stream);
    return 4.0 * (double)x->attr.heads * (double)x->attr.head_dim * avg_keys(T, &x->attr);
}

static double flops_moe_route(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)g, (void)dense;
    return 3.0 * (double)x->attr.experts;
}

static double flops_sffn_apply(const XfGraph *g, const XfNode *x, bool dense)
{
    int64_t h = g->nodes[x->in[2]].shape.dim[0], d = g->nodes[x->in[2]].shape.dim[1];
    int64_t M = g->nodes[x->in[1]].shape.dim[1];
    return dense ? 4.0 * (double)h * (double)d : 4.0 * (double)M * (double)d;
}

/* the members' sum, recorded by pass fuse */
static double flops_fused(const XfGraph *g, const XfNode *x, bool dense)
{
    (void)g;
    return dense ? x->attr.fuse->flops_dense : x->attr.fuse->flops;
}

static double share_all(const XfGraph *g, const XfNode *x, int i)
{
    (void)g, (void)x, (void)i;
    return 1.0;
}

/* one row of the weight's first dimension: an embedding row, one expert */
static double share_row(const XfGraph *g, const XfNode *x, int i)
{
    return 1.0 / (double)g->nodes[x->in[i]].shape.dim[0];
}

/* M of the hidden units, except the output bias */
static double share_sffn(const XfGraph *g, const XfNode *x, int i)
{
    if (i == 5)
        return 1.0;
    return (double)g->nodes[x->in[1]].shape.dim[1] / (double)g->nodes[x->in[2]].shape.dim[0];
}

/* a fused group: one expert's rows of an expert stack, all of the others */
static double share_fused(const XfGraph *g, const XfNode *x, int i)
{
    const XfNode *w = &g->nodes[x->in[i]];
    return w->shape.rank == 3 ? 1.0 / (double)w->shape.dim[0] : 1.0;
}

static FlopsFn *const flops_fn[XF_OP_COUNT] = {
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) \
    [XF_OP_##e] = flops,
#include "../ir/ops.def"
#undef XF_OP
};

static ShareFn *const share_fn[XF_OP_COUNT] = {
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) \
    [XF_OP_##e] = share,
#include "../ir/ops.def"
#undef XF_OP
};

double pass_stats_node_flops(const XfGraph *g, const XfNode *x, bool dense)
{
    return flops_fn[x->op](g, x, dense);
}

/* Rows of stream s in one call: a full-context forward, or a decode step
 * (one token; a MoD instance entered; top_k assignments per token). */
static double call_rows(const XfGraph *g, uint32_t s, bool decode)
{
    if (!decode || s == 0)
        return s ? (double)ir_stream_bound(g, (int)s) : 1.0;
    const XfStream *st = &g->streams[s];
    if (st->kind == XF_STREAM_TOKENS)
        return 1.0;
    double parent = call_rows(g, st->parent, true);
    return st->kind == XF_STREAM_MOE ? parent * (double)st->top_k : parent;
}

/* bytes of id's value in one call */
static double call_bytes(const XfGraph *g, XfId id, bool decode)
{
    const XfNode *x = &g->nodes[id];
    if (x->dtype == XF_ROUTE) {     /* the table of XFRT_ROUTE_BYTES, at the call's rows */
        double rows = call_rows(g, x->shape.stream, decode), E = (double)x->attr.experts;
        return 4.0 * (E + 1 + 3.0 * rows * (double)x->attr.top_k + rows * E);
    }
    double per_row = (double)ir_shape_elems(&x->shape);
    if (!x->shape.stream)
        return 4.0 * per_row;
    per_row /= (double)x->shape.dim[0];
    return 4.0 * per_row * call_rows(g, x->shape.stream, decode);
}

static XfWork call_work(const XfGraph *g, bool decode)
{
    XfWork w = {.regions = 1, .barriers = 1};
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        const XfOpInfo *info = &xf_op_info[x->op];
        if (!info->calls)
            continue;
        w.kernels += info->calls;
        w.barriers += info->syncs + ((x->flags & XF_NODE_BARRIER) ? 1 : 0);
        if (info->mem == XF_MEM_ARENA)
            w.bytes_written += call_bytes(g, id, decode);
        for (int i = 0; i < x->n_in; i++)
            if (g->nodes[x->in[i]].op != XF_OP_WEIGHT)
                w.bytes_read += call_bytes(g, x->in[i], decode);
    }
    return w;
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
        XfCost *c = x->block >= 0 ? &st->block[x->block] : &st->outside;
        c->flops += flops_fn[x->op](g, x, false) * rate(g, x->shape.stream, false);
        c->flops_dense += flops_fn[x->op](g, x, true) * rate(g, x->shape.stream, true);
        for (int i = 0; i < x->n_in; i++) {
            if (g->nodes[x->in[i]].op != XF_OP_WEIGHT)
                continue;
            /* a fused group's weights are read by its product, at the product's rows
             * (a combine's output rows are tokens) */
            uint32_t rs = x->shape.stream;
            if (x->op == XF_OP_FUSED)
                rs = x->attr.fuse->route >= 0 ? ir_stream_of_def(g, x->in[x->attr.fuse->route])
                                              : g->nodes[x->in[0]].shape.stream;
            double r = rate(g, (int)rs, false), s = share_fn[x->op](g, x, i);
            if (x->op == XF_OP_GROUPED_LINEAR ||    /* rate counts assignments: top_k of experts */
                (x->op == XF_OP_FUSED && x->attr.fuse->route >= 0))
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
        if (w->op != XF_OP_WEIGHT)
            continue;
        XfCost *c = w->block >= 0 ? &st->block[w->block] : &st->outside;
        double e = (double)ir_shape_elems(&w->shape);
        c->params += e;
        c->params_active += e * share[id];
    }
    st->forward = call_work(g, false);
    st->decode = call_work(g, true);
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

void pass_stats_print(const XfGraph *g, const XfStats *st, XfWeightFormat wf, FILE *out)
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
    fprintf(out, "weights: %s, %lld bytes resident (f32: %lld)\n", ir_weight_format_name(wf),
            (long long)ir_weights_resident_bytes(g, wf),
            (long long)ir_weights_resident_bytes(g, XF_WEIGHTS_F32));
    fprintf(out, "%-22s %8s %8s %9s %16s %16s\n", "work per call", "kernels", "regions", "barriers",
            "act. bytes wr.", "act. bytes rd.");
    const XfWork *w[2] = {&st->forward, &st->decode};
    char name[2][40];
    snprintf(name[0], sizeof name[0], "forward (T=%lld)", (long long)g->context);
    snprintf(name[1], sizeof name[1], "%s", g->has_decode ? "decode step" : "decode step (none)");
    for (int i = 0; i < (g->has_decode ? 2 : 1); i++)
        fprintf(out, "%-22s %8.0f %8.0f %9.0f %16.0f %16.0f\n", name[i], w[i]->kernels, w[i]->regions,
                w[i]->barriers, w[i]->bytes_written, w[i]->bytes_read);
}
