/* emit_route.c - emitters of conditional computation: MoD token selection,
 * gathers and the scaled residual; MoE routing tables, grouped products and
 * the gate-weighted combine; sparse-FFN unit selection.  A stream's runtime
 * row count is a local (k3, a5) set by the op that defines the stream. */
#include "cg.h"

#define V(i) cg_var(c, g->nodes[id].in[i])
#define OUT cg_var(c, id)
#define ROWS cg_rows(c, id)
#define LL(x) ((long long)(x))

static const char *route(CgCtx *c, XfId route_id) { return cg_fmt(c, "r%u", route_id); }

void emit_mod_select(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfAttrs *a = &g->nodes[id].attr;
    cg_decl(c, id);
    cw_line(c->w, "const int %s = xfrt_mod_select(/* idx */ %s, /* r */ %s, /* rows */ %s, /* capacity */ %lldLL, %lldLL, decode, /* threshold */ %s);",
            cg_stream_rows(c, g->nodes[id].shape.stream), OUT, V(0), cg_rows(c, g->nodes[id].in[0]),
            LL(a->capacity.num), LL(a->capacity.den), cg_float(c, a->threshold));
}

void emit_gather(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    if (g->nodes[id].dtype == XF_I32)
        cw_line(c->w, "xfrt_gather_i32(/* y */ %s, /* x */ %s, /* idx */ %s, /* k */ %s, /* dim */ %lld);", OUT, V(0), V(1), ROWS,
                LL(g->nodes[id].shape.rank > 1 ? cg_last_dim(c, id) : 1));
    else
        cw_line(c->w, "xfrt_gather_rows(/* y */ %s, /* x */ %s, /* idx */ %s, /* k */ %s, /* dim */ %lld);", OUT, V(0), V(1), ROWS,
                LL(cg_last_dim(c, id)));
}

void emit_mod_combine(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_mod_combine(/* out */ %s, /* x */ %s, /* xt */ %s, /* y */ %s, /* r */ %s, /* idx */ %s, /* rows */ %s, /* k */ %s, /* dim */ %lld, /* sigmoid */ %d);", OUT, V(0), V(1), V(2),
            V(3), V(4), ROWS, cg_rows(c, g->nodes[id].in[1]), LL(cg_last_dim(c, id)),
            g->nodes[id].attr.sigmoid);
}

void emit_moe_route(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfAttrs *a = &g->nodes[id].attr;
    int s = ir_stream_of_def(g, id);
    cw_line(c->w, "XfrtRoute %s;", route(c, id));
    cw_line(c->w, "xfrt_route_bind(&%s, A + XF_OFF_T%u, /* rows */ %lld, /* experts */ %lld, /* top_k */ %lld);", route(c, id), id,
            LL(g->nodes[id].shape.dim[0]), LL(a->experts), LL(a->top_k));
    cw_line(c->w, "const int %s = xfrt_moe_route(&%s, /* logits */ %s, /* rows */ %s, /* renorm */ %d, /* capacity */ %lldLL, %lldLL);",
            cg_stream_rows(c, s), route(c, id), V(0), ROWS, a->renorm, LL(a->capacity.num),
            LL(a->capacity.den));
    cw_line(c->w, "(void)%s;   /* fused expert products read the count from the table */",
            cg_stream_rows(c, s));
}

void emit_moe_gather(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_moe_gather(/* xs */ %s, /* x */ %s, &%s, /* dim */ %lld);", OUT, V(0), route(c, g->nodes[id].in[1]),
            LL(cg_last_dim(c, id)));
}

void emit_grouped_linear(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_grouped_linear(/* y */ %s, /* xs */ %s, /* W */ %s, &%s, /* in */ %lld, /* out */ %lld);", OUT, V(0), cg_mat(c, g->nodes[id].in[1]),
            route(c, g->nodes[id].in[2]), LL(cg_last_dim(c, g->nodes[id].in[0])),
            LL(cg_last_dim(c, id)));
}

void emit_moe_combine(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    if (g->nodes[id].n_in == 3)     /* the residual add folded in (pass fuse) */
        cw_line(c->w, "xfrt_moe_combine_add(/* y */ %s, /* ys */ %s, &%s, /* res */ %s, /* dim */ %lld);", OUT, V(0),
                route(c, g->nodes[id].in[1]), V(2), LL(cg_last_dim(c, id)));
    else
        cw_line(c->w, "xfrt_moe_combine(/* y */ %s, /* ys */ %s, &%s, /* dim */ %lld);", OUT, V(0), route(c, g->nodes[id].in[1]),
                LL(cg_last_dim(c, id)));
}

void emit_sffn_select(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_sffn_select(/* sel */ %s, /* c */ %s, /* rows */ %s, /* hidden */ %lld, /* block */ %lld);", OUT, V(0), ROWS,
            LL(cg_last_dim(c, g->nodes[id].in[0])), LL(g->nodes[id].attr.block));
}

void emit_sffn_apply(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfNode *x = &g->nodes[id];
    const XfNode *w1 = &g->nodes[x->in[2]];
    cg_decl(c, id);
    cw_line(c->w, "xfrt_sffn_apply(/* y */ %s, /* x */ %s, /* sel */ %s, /* W1 */ %s, /* b1 */ %s, /* W2 */ %s, /* b2 */ %s, /* rows */ %s, /* dim */ %lld, /* hidden */ %lld, /* groups */ %lld);", OUT, V(0),
            V(1), V(2), x->n_in == 6 ? V(4) : "NULL", V(3), x->n_in == 6 ? V(5) : "NULL", ROWS,
            LL(w1->shape.dim[1]), LL(w1->shape.dim[0]), LL(cg_last_dim(c, x->in[1])));
}

/* ---- fused groups over routed rows (called by emit_fused) ---------------- */

static const char *fused_in(CgCtx *c, XfId id, int slot)
{
    return slot >= 0 ? cg_var(c, c->g->nodes[id].in[slot]) : "NULL";
}

void emit_fused_combine_fields(CgCtx *c, XfId id)
{
    const XfFuse *fu = c->g->nodes[id].attr.fuse;
    if (fu->combine == XF_COMBINE_MOD)
        cw_line(c->w, ".rows = %s, .base = %s, .mod_xt = %s, .mod_r = %s, .mod_sigmoid = %d,",
                fused_in(c, id, fu->mod_idx), fused_in(c, id, fu->base), fused_in(c, id, fu->mod_xt),
                fused_in(c, id, fu->mod_r), fu->mod_sigmoid);
    else    /* rows and gates: the table's, per expert (xfrt_grouped_linear_scatter) */
        cw_line(c->w, ".base = %s,", fused_in(c, id, fu->base));
}

bool emit_fused_route_call(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfNode *x = &g->nodes[id];
    const XfFuse *fu = x->attr.fuse;
    long long in = LL(cg_last_dim(c, x->in[0]));
    if (fu->combine == XF_COMBINE_MOD)
        cw_line(c->w, "xfrt_mod_linear_fused(/* x */ %s, /* k */ %s, /* in */ %lld, %s, out, /* rows */ %s);",
                V(0), cg_rows(c, x->in[0]), in, fu->norm != XF_NORM_NONE ? "&norm" : "NULL", ROWS);
    else if (fu->combine == XF_COMBINE_MOE)
        cw_line(c->w, "xfrt_grouped_linear_scatter(/* x */ %s, &%s, /* gathered */ %d, /* in */ %lld, out);",
                V(0), route(c, x->in[fu->route]), fu->gathered, in);
    else if (fu->route >= 0)
        cw_line(c->w, "xfrt_grouped_linear_fused(/* x */ %s, &%s, /* gathered */ %d, /* in */ %lld, out, %d);",
                V(0), route(c, x->in[fu->route]), fu->gathered, in, fu->n_seg);
    else
        return false;
    return true;
}
