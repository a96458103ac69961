/* lower.c - a checked model description to IR.
 *
 * On entry the description is valid (sema reported every error).  The graph
 * built here is complete: every SPEC 4 weight is a named WEIGHT node, every
 * sublayer its ops, every routing decision an explicit op that defines a
 * stream (MoD: routed tokens, MoE: expert assignments). */
#include <stdarg.h>
#include <string.h>

#include "frontend.h"

typedef struct {
    XfGraph           *g;
    const XfModelDesc *m;
    char               prefix[64];   /* "blocks.b.s." of the sublayer being lowered */
} Lower;

static XfId weight(Lower *L, XfLoc loc, const char *suffix, int rank, ...)
{
    int64_t dims[XF_MAX_RANK];
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        dims[i] = va_arg(ap, int64_t);
    va_end(ap);
    char name[128];
    snprintf(name, sizeof name, "%s%s", L->prefix, suffix);
    return ir_weight_add(L->g, name, rank, dims, loc);
}

static XfId op(Lower *L, XfOp o, XfLoc loc, const XfAttrs *a, int n_in, ...)
{
    XfId in[XF_MAX_ARITY];
    va_list ap;
    va_start(ap, n_in);
    for (int i = 0; i < n_in; i++)
        in[i] = va_arg(ap, XfId);
    va_end(ap);
    return ir_node_add(L->g, o, in, n_in, a, loc);
}

static void label(Lower *L, const char *l) { L->g->cur_label = l; }

static XfId norm(Lower *L, XfId x, XfNormDesc nd, XfLoc loc)
{
    int64_t d = L->m->dim;
    XfAttrs a = {.eps = nd.eps};
    label(L, "norm");
    if (nd.kind == XF_NORM_RMS)
        return op(L, XF_OP_RMSNORM, loc, &a, 2, x, weight(L, loc, "norm.weight", 1, d));
    if (nd.kind == XF_NORM_LAYER) {
        XfId w = weight(L, loc, "norm.weight", 1, d), b = weight(L, loc, "norm.bias", 1, d);
        return op(L, XF_OP_LAYERNORM, loc, &a, 3, x, w, b);
    }
    return x;
}

/* x W^T (+ b) with W named prefix+w, b prefix+b when bias */
static XfId linear(Lower *L, XfId x, XfLoc loc, const char *w, const char *b, int64_t out,
                   int64_t in, bool bias)
{
    XfId y = op(L, XF_OP_LINEAR, loc, NULL, 2, x, weight(L, loc, w, 2, out, in));
    if (bias)
        y = op(L, XF_OP_ADD_BIAS, loc, NULL, 2, y, weight(L, loc, b, 1, out));
    return y;
}

static XfId attention(Lower *L, const XfSublayerDesc *s, XfId h, XfId pos)
{
    const XfGraph *g = L->g;
    int64_t d = L->m->dim, H = s->u.attn.heads, KV = s->u.attn.kv_heads, hd = s->u.attn.head_dim;
    bool bias = s->u.attn.bias;
    XfLoc loc = s->loc;
    label(L, "attn.q");
    XfId q = linear(L, h, loc, "attn.wq", "attn.bq", H * hd, d, bias);
    label(L, "attn.k");
    XfId k = linear(L, h, loc, "attn.wk", "attn.bk", KV * hd, d, bias);
    label(L, "attn.v");
    XfId v = linear(L, h, loc, "attn.wv", "attn.bv", KV * hd, d, bias);
    if (s->u.attn.rope) {
        XfAttrs ra = {.heads = H, .head_dim = hd, .base = s->u.attn.rope_base};
        label(L, "attn.rope_q");
        q = op(L, XF_OP_ROPE, loc, &ra, 2, q, pos);
        ra.heads = KV;
        label(L, "attn.rope_k");
        k = op(L, XF_OP_ROPE, loc, &ra, 2, k, pos);
    }
    XfAttrs aa = {.heads = H, .kv_heads = KV, .head_dim = hd, .causal = !s->u.attn.bidirectional,
                  .window = s->u.attn.window, .layer = g->n_layers_kv};
    L->g->n_layers_kv++;
    if (s->u.attn.bidirectional)
        L->g->has_decode = false;
    label(L, "attn");
    XfId a = op(L, XF_OP_ATTENTION, loc, &aa, 4, q, k, v, pos);
    label(L, "attn.o");
    return linear(L, a, loc, "attn.wo", "attn.bo", d, H * hd, bias);
}

/* act(u), or for a gated act (swiglu, geglu) inner(u) * gate */
static XfId activate(Lower *L, XfLoc loc, XfAct act, XfId u, XfId gate)
{
    XfAttrs a = {.act = ir_act_inner(act)};
    return gate ? op(L, XF_OP_GLU, loc, &a, 2, u, gate) : op(L, XF_OP_ACT, loc, &a, 1, u);
}

static XfId ffn(Lower *L, const XfSublayerDesc *s, XfId h)
{
    int64_t d = L->m->dim, hid = s->u.ffn.hidden;
    bool bias = s->u.ffn.bias;
    XfAct act = s->u.ffn.act;
    XfLoc loc = s->loc;
    label(L, "ffn.up");
    XfId u = linear(L, h, loc, "ffn.w1", "ffn.b1", hid, d, bias);
    XfId g3 = 0;
    if (ir_act_gated(act)) {
        label(L, "ffn.gate");
        g3 = linear(L, h, loc, "ffn.w3", "ffn.b3", hid, d, bias);
    }
    label(L, "ffn.act");
    u = activate(L, loc, act, u, g3);
    label(L, "ffn.down");
    return linear(L, u, loc, "ffn.w2", "ffn.b2", d, hid, bias);
}

static XfId moe(Lower *L, const XfSublayerDesc *s, XfId h)
{
    int64_t d = L->m->dim, E = s->u.moe.experts, hid = s->u.moe.hidden;
    XfAct act = s->u.moe.act;
    XfLoc loc = s->loc;
    label(L, "moe.router");
    XfId logits = op(L, XF_OP_LINEAR, loc, NULL, 2, h, weight(L, loc, "moe.router", 2, E, d));
    XfAttrs ra = {.experts = E, .top_k = s->u.moe.top_k, .renorm = s->u.moe.renorm,
                  .capacity = s->u.moe.capacity};
    label(L, "moe.route");
    XfId route = op(L, XF_OP_MOE_ROUTE, loc, &ra, 1, logits);
    label(L, "moe.gather");
    XfId xs = op(L, XF_OP_MOE_GATHER, loc, NULL, 2, h, route);
    label(L, "moe.up");
    XfId u = op(L, XF_OP_GROUPED_LINEAR, loc, NULL, 3, xs, weight(L, loc, "moe.w1", 3, E, hid, d), route);
    XfId g3 = 0;
    if (ir_act_gated(act)) {
        label(L, "moe.gate");
        g3 = op(L, XF_OP_GROUPED_LINEAR, loc, NULL, 3, xs, weight(L, loc, "moe.w3", 3, E, hid, d), route);
    }
    label(L, "moe.act");
    u = activate(L, loc, act, u, g3);
    label(L, "moe.down");
    XfId y = op(L, XF_OP_GROUPED_LINEAR, loc, NULL, 3, u, weight(L, loc, "moe.w2", 3, E, d, hid), route);
    label(L, "moe.combine");
    return op(L, XF_OP_MOE_COMBINE, loc, NULL, 2, y, route);
}

static XfId sparse_ffn(Lower *L, const XfSublayerDesc *s, XfId h)
{
    int64_t d = L->m->dim, hid = s->u.sffn.hidden, lr = s->u.sffn.lowrank;
    XfLoc loc = s->loc;
    label(L, "sffn.ctrl");
    XfId c = op(L, XF_OP_LINEAR, loc, NULL, 2, h, weight(L, loc, "sffn.c1", 2, lr, d));
    c = op(L, XF_OP_LINEAR, loc, NULL, 2, c, weight(L, loc, "sffn.c2", 2, hid, lr));
    XfAttrs sa = {.block = s->u.sffn.block};
    label(L, "sffn.select");
    XfId sel = op(L, XF_OP_SFFN_SELECT, loc, &sa, 1, c);
    label(L, "sffn.apply");
    XfId w1 = weight(L, loc, "sffn.w1", 2, hid, d), w2 = weight(L, loc, "sffn.w2", 2, d, hid);
    if (!s->u.sffn.bias)
        return op(L, XF_OP_SFFN_APPLY, loc, NULL, 4, h, sel, w1, w2);
    XfId b1 = weight(L, loc, "sffn.b1", 1, hid), b2 = weight(L, loc, "sffn.b2", 1, d);
    return op(L, XF_OP_SFFN_APPLY, loc, NULL, 6, h, sel, w1, w2, b1, b2);
}

static XfId sublayer(Lower *L, const XfSublayerDesc *s, XfId x, XfId pos)
{
    bool post = L->m->residual_post;
    XfId h = post ? x : norm(L, x, s->norm, s->loc), f = 0;
    switch (s->kind) {
    case XF_SUB_ATTENTION: f = attention(L, s, h, pos); break;
    case XF_SUB_FFN: f = ffn(L, s, h); break;
    case XF_SUB_MOE: f = moe(L, s, h); break;
    case XF_SUB_SPARSE_FFN: f = sparse_ffn(L, s, h); break;
    }
    label(L, "residual");
    x = op(L, XF_OP_ADD, s->loc, NULL, 2, x, f);
    return post ? norm(L, x, s->norm, s->loc) : x;
}

static XfId block(Lower *L, int b, const XfBlockInst *bi, XfId x, XfId pos)
{
    XfGraph *g = L->g;
    g->cur_block = b;
    XfId r = 0, idx = 0, xt = x;
    if (bi->mod) {
        g->cur_sub = -1;
        snprintf(L->prefix, sizeof L->prefix, "blocks.%d.", b);
        label(L, "mod.router");
        r = op(L, XF_OP_LINEAR, bi->mod_loc, NULL, 2, x,
               weight(L, bi->mod_loc, "mod.router", 2, (int64_t)1, L->m->dim));
        XfAttrs a = {.capacity = bi->mod_capacity, .threshold = bi->mod_threshold};
        label(L, "mod.select");
        idx = op(L, XF_OP_MOD_SELECT, bi->mod_loc, &a, 1, r);
        label(L, "mod.gather");
        xt = op(L, XF_OP_GATHER, bi->mod_loc, NULL, 2, x, idx);
        pos = op(L, XF_OP_GATHER, bi->mod_loc, NULL, 2, pos, idx);
    }
    XfId y = xt;
    for (int s = 0; s < bi->n_subs; s++) {
        g->cur_sub = s;
        snprintf(L->prefix, sizeof L->prefix, "blocks.%d.%d.", b, s);
        y = sublayer(L, &bi->subs[s], y, pos);
    }
    if (!bi->mod)
        return y;
    g->cur_sub = -1;
    XfAttrs a = {.sigmoid = bi->mod_sigmoid};
    label(L, "mod.combine");
    return op(L, XF_OP_MOD_COMBINE, bi->mod_loc, &a, 5, x, xt, y, r, idx);
}

XfGraph *fe_model_lower(const XfModelDesc *m, const char *src_path)
{
    XfGraph *g = ir_graph_new();
    Lower L = {.g = g, .m = m};
    g->model_name = xf_arena_strdup(g->arena, m->name);
    g->src_path = xf_arena_strdup(g->arena, src_path ? src_path : "?");
    g->vocab = m->vocab;
    g->dim = m->dim;
    g->context = m->context;
    g->has_decode = true;
    XfLoc loc = m->loc;

    label(&L, "input");
    XfId tok = op(&L, XF_OP_TOKENS, loc, NULL, 0);
    XfId pos = op(&L, XF_OP_POSITIONS, loc, NULL, 0);
    label(&L, "embed");
    XfId embed = weight(&L, loc, "embed", 2, m->vocab, m->dim);
    XfId x = op(&L, XF_OP_EMBED, loc, NULL, 2, embed, tok);
    if (m->position == XF_POS_LEARNED) {
        label(&L, "pos_embed");
        XfId pe = weight(&L, loc, "pos_embed", 2, m->context, m->dim);
        x = op(&L, XF_OP_ADD, loc, NULL, 2, x, op(&L, XF_OP_EMBED, loc, NULL, 2, pe, pos));
    }
    snprintf(L.prefix, sizeof L.prefix, "embed_");   /* embed_norm.weight, embed_norm.bias */
    x = norm(&L, x, m->embed_norm, loc);
    L.prefix[0] = '\0';
    for (int b = 0; b < m->n_blocks; b++)
        x = block(&L, b, &m->blocks[b], x, pos);
    g->cur_block = g->cur_sub = -1;
    L.prefix[0] = '\0';
    if (m->final_norm)
        x = norm(&L, x, m->norm, loc);
    if (m->head_none) {
        g->logits = x;   /* head = none: the final hidden state is the output */
    } else {
        label(&L, "lm_head");
        XfId head = m->tie_embeddings ? embed : weight(&L, loc, "lm_head", 2, m->vocab, m->dim);
        g->logits = op(&L, XF_OP_LINEAR, loc, NULL, 2, x, head);
    }
    g->nodes[g->logits].flags |= XF_NODE_OUTPUT;
    g->cur_label = NULL;
    return g;
}
