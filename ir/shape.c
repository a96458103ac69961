/* shape.c - one shape rule per op (named in ops.def).  A rule reads the
 * node's inputs and attributes and returns the output shape and dtype, or
 * false with a message.  Token-indexed tensors keep their stream, so the
 * runtime row count travels with the shape. */
#include <string.h>

#include "ir.h"
#include "shape_rules.h"

#define IN(i) (&g->nodes[g->nodes[id].in[i]])
#define FAIL(...) (snprintf(err, n, __VA_ARGS__), false)

uint32_t ir_stream_of_def(const XfGraph *g, XfId def) { return g->nodes[def].def_stream; }

int64_t ir_stream_bound(const XfGraph *g, int s)
{
    const XfStream *st = &g->streams[s];
    if (st->kind == XF_STREAM_TOKENS)
        return g->context;
    if (st->bound > 0)
        return st->bound;
    int64_t parent = ir_stream_bound(g, st->parent);
    return st->kind == XF_STREAM_MOE ? parent * st->top_k : parent;
}

static XfShape rows(const XfGraph *g, int stream, int rank, int64_t d1, int64_t d2)
{
    XfShape s = {.rank = (uint8_t)rank, .stream = (uint32_t)stream};
    s.dim[0] = ir_stream_bound(g, stream);
    s.dim[1] = d1;
    s.dim[2] = d2;
    return s;
}

static int64_t last(const XfNode *x) { return x->shape.dim[x->shape.rank - 1]; }

bool shape_source(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    (void)err, (void)n;
    XfNode *x = &g->nodes[id];
    if (x->op == XF_OP_WEIGHT) {
        *out = x->shape;
        *dt = XF_F32;
        return true;
    }
    *out = rows(g, 1, 1, 0, 0);
    *dt = XF_I32;
    return true;
}

bool shape_embed(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *t = IN(0), *ix = IN(1);
    if (t->shape.rank != 2 || ix->dtype != XF_I32 || ix->shape.rank != 1 || !ix->shape.stream)
        return FAIL("embed expects table [V, D] and row indices");
    *out = rows(g, ix->shape.stream, 2, t->shape.dim[1], 0);
    *dt = XF_F32;
    return true;
}

static bool same_rows(const XfNode *a, const XfNode *b)
{
    return a->shape.stream == b->shape.stream && a->shape.dim[0] == b->shape.dim[0];
}

static bool same_shape(const XfNode *a, const XfNode *b) { return ir_shape_equal(&a->shape, &b->shape); }

/* Row-wise ops whose output has the shape of input 0: each rule checks its
 * other operands, then this gives the output. */
static bool same_as_0(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *x = &g->nodes[id], *a = IN(0);
    if (a->dtype != XF_F32)
        return FAIL("%s expects f32", xf_op_info[x->op].name);
    *out = rows(g, a->shape.stream, a->shape.rank, a->shape.dim[1], a->shape.dim[2]);
    *dt = XF_F32;
    return true;
}

/* (a, b) of one shape: add, glu */
static bool same_operands(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    if (!same_shape(IN(0), IN(1)))
        return FAIL("%s operands differ in shape", xf_op_info[g->nodes[id].op].name);
    return same_as_0(g, id, out, dt, err, n);
}

/* (x, v[D]) with D the last dim of x: add_bias, rmsnorm */
static bool row_vector(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    int64_t d = last(IN(0));
    if (IN(1)->shape.rank != 1 || IN(1)->shape.dim[0] != d)
        return FAIL("%s expects a vector of %lld", xf_op_info[g->nodes[id].op].name, (long long)d);
    return same_as_0(g, id, out, dt, err, n);
}

bool shape_add(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    return same_operands(g, id, out, dt, err, n);
}

bool shape_glu(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    return same_operands(g, id, out, dt, err, n);
}

bool shape_add_bias(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    return row_vector(g, id, out, dt, err, n);
}

bool shape_rmsnorm(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    return row_vector(g, id, out, dt, err, n);
}

bool shape_act(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    return same_as_0(g, id, out, dt, err, n);
}

bool shape_layernorm(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    int64_t d = last(IN(0));
    if (IN(1)->shape.dim[0] != d || IN(2)->shape.dim[0] != d)
        return FAIL("layernorm expects weight and bias of %lld", (long long)d);
    return same_as_0(g, id, out, dt, err, n);
}

bool shape_rope(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *x = &g->nodes[id], *a = IN(0);
    if (last(a) != x->attr.heads * x->attr.head_dim || x->attr.head_dim % 2 ||
        IN(1)->dtype != XF_I32 || !same_rows(a, IN(1)))
        return FAIL("rope expects [rows, heads*head_dim] and positions");
    return same_as_0(g, id, out, dt, err, n);
}

bool shape_mod_combine(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *a = IN(0);
    if (!same_shape(IN(1), IN(2)) || IN(3)->shape.dim[1] != 1 || !same_rows(a, IN(3)) ||
        !same_rows(IN(1), IN(4)) || last(IN(1)) != last(a))
        return FAIL("mod_combine operands do not match");
    return same_as_0(g, id, out, dt, err, n);
}

bool shape_sffn_apply(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *x = &g->nodes[id], *a = IN(0), *sel = IN(1), *w1 = IN(2), *w2 = IN(3);
    int64_t d = last(a), h = w1->shape.dim[0];
    if (sel->dtype != XF_I32 || !same_rows(a, sel) || w1->shape.dim[1] != d ||
        w2->shape.dim[0] != d || w2->shape.dim[1] != h)
        return FAIL("sffn_apply operands do not match");
    if (x->n_in == 6 && (IN(4)->shape.dim[0] != h || IN(5)->shape.dim[0] != d))
        return FAIL("sffn_apply biases do not match");
    return same_as_0(g, id, out, dt, err, n);
}

bool shape_linear(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *x = IN(0), *w = IN(1);
    if (x->shape.rank != 2 || w->shape.rank != 2 || w->shape.dim[1] != x->shape.dim[1])
        return FAIL("linear: [rows, %lld] times W^T with W [%lld, %lld]",
                    (long long)x->shape.dim[1], (long long)w->shape.dim[0],
                    (long long)w->shape.dim[1]);
    *out = rows(g, x->shape.stream, 2, w->shape.dim[0], 0);
    *dt = XF_F32;
    return true;
}

bool shape_attention(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfAttrs *a = &g->nodes[id].attr;
    XfNode *q = IN(0), *k = IN(1), *v = IN(2), *p = IN(3);
    if (a->kv_heads <= 0 || a->heads % a->kv_heads || last(q) != a->heads * a->head_dim ||
        last(k) != a->kv_heads * a->head_dim || !same_shape(k, v) || !same_rows(q, k) ||
        !same_rows(q, p) || p->dtype != XF_I32)
        return FAIL("attention operands do not match heads %lld/%lld of %lld",
                    (long long)a->heads, (long long)a->kv_heads, (long long)a->head_dim);
    *out = rows(g, q->shape.stream, 2, last(q), 0);
    *dt = XF_F32;
    return true;
}

bool shape_mod_select(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    if (IN(0)->shape.rank != 2 || IN(0)->shape.dim[1] != 1)
        return FAIL("mod_select expects router scores [rows, 1]");
    *out = rows(g, ir_stream_of_def(g, id), 1, 0, 0);
    *dt = XF_I32;
    return true;
}

bool shape_gather(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *x = IN(0), *ix = IN(1);
    int s = ix->shape.stream;
    if (ix->dtype != XF_I32 || ix->shape.rank != 1 || !s || g->streams[s].parent != x->shape.stream)
        return FAIL("gather expects rows of the parent stream and indices");
    *out = rows(g, s, x->shape.rank, x->shape.dim[1], x->shape.dim[2]);
    *dt = x->dtype;
    return true;
}

bool shape_moe_route(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfAttrs *a = &g->nodes[id].attr;
    XfNode *l = IN(0);
    if (l->shape.rank != 2 || l->shape.dim[1] != a->experts || a->top_k < 1 || a->top_k > a->experts)
        return FAIL("moe_route expects logits [rows, %lld]", (long long)a->experts);
    *out = rows(g, l->shape.stream, 2, a->top_k, 0);
    *dt = XF_ROUTE;
    return true;
}

bool shape_moe_gather(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *x = IN(0), *r = IN(1);
    if (r->dtype != XF_ROUTE || !same_rows(x, r))
        return FAIL("moe_gather expects rows and their route");
    *out = rows(g, ir_stream_of_def(g, g->nodes[id].in[1]), 2, last(x), 0);
    *dt = XF_F32;
    return true;
}

bool shape_grouped_linear(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *x = IN(0), *w = IN(1), *r = IN(2);
    if (r->dtype != XF_ROUTE || w->shape.rank != 3 || w->shape.dim[0] != r->attr.experts ||
        w->shape.dim[2] != last(x) || x->shape.stream != ir_stream_of_def(g, g->nodes[id].in[2]))
        return FAIL("grouped_linear expects assignments and W [experts, out, in]");
    *out = rows(g, x->shape.stream, 2, w->shape.dim[1], 0);
    *dt = XF_F32;
    return true;
}

bool shape_moe_combine(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *y = IN(0), *r = IN(1);
    if (r->dtype != XF_ROUTE || y->shape.stream != ir_stream_of_def(g, g->nodes[id].in[1]))
        return FAIL("moe_combine expects expert outputs and their route");
    *out = rows(g, r->shape.stream, 2, last(y), 0);
    if (g->nodes[id].n_in == 3 && (IN(2)->dtype != XF_F32 || !ir_shape_equal(&IN(2)->shape, out)))
        return FAIL("moe_combine's residual must have the output's shape");
    *dt = XF_F32;
    return true;
}

bool shape_sffn_select(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *c = IN(0);
    int64_t b = g->nodes[id].attr.block;
    if (c->shape.rank != 2 || b <= 0 || last(c) % b)
        return FAIL("sffn_select: %lld units in groups of %lld", (long long)last(c), (long long)b);
    *out = rows(g, c->shape.stream, 2, last(c) / b, 0);
    *dt = XF_I32;
    return true;
}

static bool slot_ok(const XfNode *x, int slot) { return slot >= 0 && slot < x->n_in; }

/* x[rows, in]; each segment's W [cols, in] (and W2), vectors of cols, the
 * residual [rows, cols]; output [rows, sum of cols]. */
bool shape_fused(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *f = &g->nodes[id], *x = IN(0);
    const XfFuse *fu = f->attr.fuse;
    if (!fu || fu->n_seg < 1 || fu->n_seg > XF_FUSE_MAX_SEG || x->dtype != XF_F32 ||
        x->shape.rank != 2 || !x->shape.stream)
        return FAIL("fused group without segments or input rows");
    int64_t in = x->shape.dim[1], total = 0;
    uint32_t out_rows = x->shape.stream;
    const XfNode *route = NULL;
    if (fu->route >= 0) {       /* MoE: rows are the table's assignments */
        route = slot_ok(f, fu->route) ? IN(fu->route) : NULL;
        if (!route || route->dtype != XF_ROUTE)
            return FAIL("fused expert products expect a routing table");
        out_rows = ir_stream_of_def(g, f->in[fu->route]);
        if (x->shape.stream != (fu->gathered ? route->shape.stream : out_rows))
            return FAIL("fused expert products expect %s rows", fu->gathered ? "token" : "assignment");
    }
    if (fu->norm != XF_NORM_NONE &&
        (!slot_ok(f, fu->norm_w) || IN(fu->norm_w)->shape.dim[0] != in ||
         (fu->norm == XF_NORM_LAYER && (!slot_ok(f, fu->norm_b) || IN(fu->norm_b)->shape.dim[0] != in))))
        return FAIL("fused norm prologue expects weights of %lld", (long long)in);
    for (int s = 0; s < fu->n_seg; s++) {
        const XfFuseSeg *sg = &fu->seg[s];
        const XfShape *ws = slot_ok(f, sg->w) ? &IN(sg->w)->shape : NULL;
        int e = route ? 1 : 0;      /* W [experts, cols, in] for expert products */
        if (!ws || ws->rank != 2 + e || ws->dim[e] != sg->cols || ws->dim[e + 1] != in ||
            (route && ws->dim[0] != route->attr.experts) || sg->offset != total ||
            (sg->glu && (!slot_ok(f, sg->w2) || !ir_shape_equal(&IN(sg->w)->shape, &IN(sg->w2)->shape))) ||
            (sg->bias >= 0 && (!slot_ok(f, sg->bias) || IN(sg->bias)->shape.dim[0] != sg->cols)) ||
            (sg->bias2 >= 0 && (!slot_ok(f, sg->bias2) || IN(sg->bias2)->shape.dim[0] != sg->cols)) ||
            (sg->rope_pos >= 0 && (!slot_ok(f, sg->rope_pos) || !same_rows(x, IN(sg->rope_pos)) ||
                                   sg->rope_heads * sg->rope_head_dim != sg->cols ||
                                   sg->rope_head_dim % 2)) ||
            (sg->res >= 0 && (!slot_ok(f, sg->res) || !same_rows(x, IN(sg->res)) ||
                              IN(sg->res)->shape.rank != 2 || last(IN(sg->res)) != sg->cols)))
            return FAIL("fused segment %d operands do not match", s);
        total += sg->cols;
    }
    if (fu->combine == XF_COMBINE_MOD) {
        /* product rows are the k routed rows; the output is x's token rows */
        const XfNode *xb = slot_ok(f, fu->base) ? IN(fu->base) : NULL;
        const XfNode *xt = slot_ok(f, fu->mod_xt) ? IN(fu->mod_xt) : NULL;
        const XfNode *r = slot_ok(f, fu->mod_r) ? IN(fu->mod_r) : NULL;
        const XfNode *ix = slot_ok(f, fu->mod_idx) ? IN(fu->mod_idx) : NULL;
        if (fu->n_seg != 1 || route || !xb || !xt || !r || !ix || xb->shape.rank != 2 ||
            last(xb) != total || xt->shape.rank != 2 || xt->shape.stream != out_rows || last(xt) != total ||
            r->shape.rank != 2 || r->shape.dim[1] != 1 || !same_rows(xb, r) || ix->dtype != XF_I32 ||
            ix->shape.stream != out_rows || xb->dtype != XF_F32)
            return FAIL("fused MoD combine operands do not match");
        out_rows = xb->shape.stream;
    } else if (fu->combine == XF_COMBINE_MOE) {
        /* product rows are assignments; the output is the table's token rows */
        const XfNode *xb = fu->base >= 0 ? (slot_ok(f, fu->base) ? IN(fu->base) : NULL) : NULL;
        if (fu->n_seg != 1 || !route || route->attr.top_k != 1 ||
            (fu->base >= 0 && (!xb || xb->shape.rank != 2 || last(xb) != total ||
                               !same_rows(xb, route) || xb->dtype != XF_F32)))
            return FAIL("fused MoE combine operands do not match");
        out_rows = route->shape.stream;
    }
    *out = rows(g, (int)out_rows, 2, total, 0);
    *dt = XF_F32;
    return true;
}

bool shape_part(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n)
{
    XfNode *p = &g->nodes[id], *f = IN(0);
    const XfFuse *fu = f->attr.fuse;
    if (f->op != XF_OP_FUSED || !fu || p->attr.part < 0 || p->attr.part >= fu->n_seg)
        return FAIL("part expects a segment of a fused group");
    *out = rows(g, f->shape.stream, 2, fu->seg[p->attr.part].cols, 0);
    *dt = XF_F32;
    return true;
}

bool ir_shape_infer_node(XfGraph *g, XfId id, char *err, size_t n)
{
    XfNode *x = &g->nodes[id];
    XfShape s;
    XfDtype dt;
    if (!xf_op_info[x->op].shape(g, id, &s, &dt, err, n))
        return false;
    x->shape = s;
    x->dtype = dt;
    return true;
}
