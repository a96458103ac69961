/* emit_dense.c - emitters of the dense ops: sources, elementwise, norms,
 * matrix products, RoPE and attention.  Each emits one runtime call. */
#include <string.h>

#include "cg.h"

#define V(i) cg_var(c, g->nodes[id].in[i])
#define OUT cg_var(c, id)
#define ROWS cg_rows(c, id)
#define LL(x) ((long long)(x))

static const char *act_const(XfAct a)
{
    switch (a) {
    case XF_ACT_RELU: return "XFRT_ACT_RELU";
    case XF_ACT_RELU2: return "XFRT_ACT_RELU2";
    case XF_ACT_GELU: return "XFRT_ACT_GELU";
    case XF_ACT_GELU_TANH: return "XFRT_ACT_GELU_TANH";
    case XF_ACT_SILU: return "XFRT_ACT_SILU";
    default: xf_unreachable();
    }
}

void emit_tokens(CgCtx *c, XfId id) { cw_line(c->w, "const int32_t *%s = tokens;", OUT); }

void emit_positions(CgCtx *c, XfId id)
{
    cg_decl(c, id);
    cw_line(c->w, "if (xfrt_lead())");
    cw_line(c->w, "    for (int i = 0; i < n; i++)");
    cw_line(c->w, "        %s[i] = (int32_t)(m->n_past + i);", OUT);
}

void emit_weight(CgCtx *c, XfId id)
{
    const XfNode *x = &c->g->nodes[id];
    if (c->weight_use[id] & CG_USE_FLOAT)
        cw_line(c->w, "const float *%s = m->w[%d];   /* %s */", OUT, c->weight_index[id], x->attr.name);
    if (c->mat_index[id] >= 0)
        cw_line(c->w, "const XfrtMat *%s = &m->mat[%d];   /* %s, packed */", cg_mat(c, id),
                c->mat_index[id], x->attr.name);
}

void emit_embed(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_embed(/* y */ %s, /* table */ %s, /* idx */ %s, /* rows */ %s, /* dim */ %lld);", OUT, cg_mat(c, g->nodes[id].in[0]), V(1), ROWS, LL(cg_last_dim(c, id)));
}

void emit_add(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_add(/* y */ %s, /* a */ %s, /* b */ %s, /* count */ (size_t)%s * %lld);", OUT, V(0), V(1), ROWS,
            LL(cg_last_dim(c, id)));
}

void emit_add_bias(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_add_bias(/* y */ %s, /* x */ %s, /* b */ %s, /* rows */ %s, /* dim */ %lld);", OUT, V(0), V(1), ROWS, LL(cg_last_dim(c, id)));
}

void emit_rmsnorm(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_rmsnorm(/* y */ %s, /* x */ %s, /* w */ %s, /* rows */ %s, /* dim */ %lld, /* eps */ %s);", OUT, V(0), V(1), ROWS,
            LL(cg_last_dim(c, id)), cg_float(c, g->nodes[id].attr.eps));
}

void emit_layernorm(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_layernorm(/* y */ %s, /* x */ %s, /* w */ %s, /* b */ %s, /* rows */ %s, /* dim */ %lld, /* eps */ %s);", OUT, V(0), V(1), V(2), ROWS,
            LL(cg_last_dim(c, id)), cg_float(c, g->nodes[id].attr.eps));
}

void emit_linear(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_linear(/* y */ %s, /* x */ %s, /* W */ %s, /* rows */ %s, /* in */ %lld, /* out */ %lld);", OUT, V(0), cg_mat(c, g->nodes[id].in[1]), ROWS,
            LL(cg_last_dim(c, g->nodes[id].in[0])), LL(cg_last_dim(c, id)));
}

void emit_act(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_act(/* y */ %s, /* x */ %s, /* count */ (size_t)%s * %lld, %s);", OUT, V(0), ROWS, LL(cg_last_dim(c, id)),
            act_const(g->nodes[id].attr.act));
}

void emit_glu(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_glu(/* y */ %s, /* a */ %s, /* b */ %s, /* count */ (size_t)%s * %lld, %s);", OUT, V(0), V(1), ROWS,
            LL(cg_last_dim(c, id)), act_const(g->nodes[id].attr.act));
}

void emit_rope(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfAttrs *a = &g->nodes[id].attr;
    cg_decl(c, id);
    char base[40];
    snprintf(base, sizeof base, "%.17g", a->base);
    if (!strpbrk(base, ".eE"))
        strcat(base, ".0");
    cw_line(c->w, "xfrt_rope(/* y */ %s, /* x */ %s, /* pos */ %s, /* rows */ %s, /* heads */ %lld, /* head_dim */ %lld, /* base */ %s, m->rope[%d], %lld);", OUT, V(0), V(1), ROWS,
            LL(a->heads), LL(a->head_dim), base, cg_rope_index(c, a->head_dim, a->base), LL(g->context));
}

void emit_attention(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfAttrs *a = &g->nodes[id].attr;
    cg_decl(c, id);
    cw_line(c->w, "xfrt_kv_append(&m->kv[%d], /* k */ %s, /* v */ %s, /* pos */ %s, /* rows */ %s);", a->layer, V(1), V(2), V(3), ROWS);
    cw_line(c->w, "xfrt_attention(/* y */ %s, /* q */ %s, &m->kv[%d], /* qpos */ %s, /* rows */ %s, /* heads */ %lld, /* kv_heads */ %lld, /* head_dim */ %lld, /* causal */ %d, /* window */ %lld);", OUT, V(0),
            a->layer, V(3), ROWS, LL(a->heads), LL(a->kv_heads), LL(a->head_dim), a->causal,
            LL(a->window));
}

/* A fused group: one xfrt_linear_fused call.  Its segments are written one
 * after another into its buffer, each [rows bound, cols]. */
static const char *seg_ptr(CgCtx *c, XfId id, const XfFuseSeg *sg)
{
    const XfNode *x = &c->g->nodes[id];
    if (x->flags & XF_NODE_OUTPUT)
        return "logits";
    if (!sg->offset)
        return cg_var(c, id);
    return cg_fmt(c, "%s + (size_t)%lld * %lld", cg_var(c, id), LL(x->shape.dim[0]), LL(sg->offset));
}

static const char *slot_var(CgCtx *c, XfId id, int slot)
{
    return slot >= 0 ? cg_var(c, c->g->nodes[id].in[slot]) : "NULL";
}

static const char *slot_mat(CgCtx *c, XfId id, int slot)
{
    return slot >= 0 ? cg_mat(c, c->g->nodes[id].in[slot]) : "NULL";
}

void emit_fused(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfNode *x = &g->nodes[id];
    const XfFuse *fu = x->attr.fuse;
    cg_decl(c, id);
    cw_open(c->w, "%s", "");
    if (fu->norm != XF_NORM_NONE)
        cw_line(c->w, "const XfrtNorm norm = {.kind = %s, .w = %s, .b = %s, .eps = %s};",
                fu->norm == XF_NORM_RMS ? "XFRT_NORM_RMS" : "XFRT_NORM_LAYER", slot_var(c, id, fu->norm_w),
                slot_var(c, id, fu->norm_b), cg_float(c, fu->eps));
    cw_open(c->w, "const XfrtLinearOut out[%d] =", fu->n_seg);
    for (int s = 0; s < fu->n_seg; s++) {
        const XfFuseSeg *sg = &fu->seg[s];
        cw_open(c->w, "%s", "");
        cw_line(c->w, ".y = %s, .cols = %lld, .W = %s, .W2 = %s,", seg_ptr(c, id, sg), LL(sg->cols),
                slot_mat(c, id, sg->w), slot_mat(c, id, sg->w2));
        cw_line(c->w, ".bias = %s, .bias2 = %s, .act = %s,", slot_var(c, id, sg->bias),
                slot_var(c, id, sg->bias2), sg->act >= 0 ? act_const((XfAct)sg->act) : "-1");
        if (sg->rope_pos >= 0) {
            char base[40];
            snprintf(base, sizeof base, "%.17g", sg->rope_base);
            if (!strpbrk(base, ".eE"))
                strcat(base, ".0");
            cw_line(c->w, ".rope_pos = %s, .rope_heads = %lld, .rope_head_dim = %lld, .rope_base = %s,",
                    slot_var(c, id, sg->rope_pos), LL(sg->rope_heads), LL(sg->rope_head_dim), base);
            cw_line(c->w, ".rope_cs = m->rope[%d], .rope_len = %lld,",
                    cg_rope_index(c, sg->rope_head_dim, sg->rope_base), LL(g->context));
        }
        cw_line(c->w, ".res = %s,", slot_var(c, id, sg->res));
        if (fu->combine != XF_COMBINE_NONE)
            emit_fused_combine_fields(c, id);
        cw_close(c->w, ",");
    }
    cw_close(c->w, ";");
    if (!emit_fused_route_call(c, id))
        cw_line(c->w, "xfrt_linear_fused(/* x */ %s, /* rows */ %s, /* in */ %lld, %s, out, %d);", V(0),
                cg_rows(c, x->in[0]), LL(cg_last_dim(c, x->in[0])),
                fu->norm != XF_NORM_NONE ? "&norm" : "NULL", fu->n_seg);
    cw_close(c->w, NULL);
}

void emit_part(CgCtx *c, XfId id)
{
    const XfNode *x = &c->g->nodes[id];
    XfId f = x->in[0];
    cw_line(c->w, "float *%s = %s;   /* segment %d of t%u */", OUT,
            seg_ptr(c, f, &x->attr.fuse->seg[x->attr.part]), x->attr.part, f);
}
