/* test_fuse.c - pass fuse, one pattern per test, with the cases where it
 * must not fire: graphs built op by op with the IR builder. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "passes/passes.h"

#define D 16
#define V 32

typedef struct {
    XfGraph *g;
    XfId     x, pos;             /* the embedded tokens [n, D] and their positions */
    int      line;
} B;

static B begin(void)
{
    B b = {.g = ir_graph_new()};
    b.g->model_name = "t";
    b.g->src_path = "tests/fuse.xf";
    b.g->vocab = V;
    b.g->dim = D;
    b.g->context = 8;
    XfLoc loc = {1, 1, 1};
    XfId tok = ir_node_add(b.g, XF_OP_TOKENS, NULL, 0, NULL, loc);
    b.pos = ir_node_add(b.g, XF_OP_POSITIONS, NULL, 0, NULL, loc);
    XfId table = ir_weight_add(b.g, "embed", 2, (int64_t[]){V, D}, loc);
    b.x = ir_node_add(b.g, XF_OP_EMBED, (XfId[]){table, tok}, 2, NULL, loc);
    b.line = 2;
    return b;
}

static XfId op(B *b, XfOp o, const XfAttrs *a, int n, ...)
{
    XfId in[XF_MAX_ARITY];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        in[i] = va_arg(ap, XfId);
    va_end(ap);
    XfLoc loc = {(uint32_t)b->line++, 3, 1};
    return ir_node_add(b->g, o, in, n, a, loc);
}

static XfId w2(B *b, const char *name, int64_t r, int64_t c)
{
    return ir_weight_add(b->g, name, 2, (int64_t[]){r, c}, (XfLoc){1, 1, 1});
}

static XfId w1(B *b, const char *name, int64_t r)
{
    return ir_weight_add(b->g, name, 1, (int64_t[]){r}, (XfLoc){1, 1, 1});
}

static XfId linear(B *b, XfId x, const char *wname, int64_t out)
{
    int64_t in = b->g->nodes[x].shape.dim[1];
    return op(b, XF_OP_LINEAR, NULL, 2, x, w2(b, wname, out, in));
}

static XfId rmsnorm(B *b, XfId x, const char *wname)
{
    XfAttrs a = {.eps = 1e-5};
    return op(b, XF_OP_RMSNORM, &a, 2, x, w1(b, wname, b->g->nodes[x].shape.dim[1]));
}

/* lm_head on h makes the logits; then the pass runs with the verifier */
static void finish(B *b, XfId h, bool fuse)
{
    XfGraph *g = b->g;
    g->logits = linear(b, h, "lm_head", V);
    g->nodes[g->logits].flags |= XF_NODE_OUTPUT;
    assert_true(ir_verify(g, stderr));
    XfPassCtx cx = {.err = stderr, .scratch = xf_arena_new(), .no_fuse = !fuse};
    assert_true(pass_fuse(g, &cx));
    assert_true(ir_verify(g, stderr));
    pass_ctx_free(&cx);
}

/* lm_head on h makes the logits; then the whole pipeline runs (verifying);
 * its stats (without the per-block table) into *st when st != NULL */
static XfGraph *pipeline(B *b, XfId h, bool fuse, XfStats *st)
{
    XfGraph *g = b->g;
    g->logits = linear(b, h, "lm_head", V);
    g->nodes[g->logits].flags |= XF_NODE_OUTPUT;
    XfPassCtx cx = {.err = stderr, .dump_out = stdout, .verify = true, .no_fuse = !fuse};
    assert_true(pass_pipeline_run(g, &cx));
    if (st) {
        *st = cx.stats;
        st->block = NULL;
    }
    pass_ctx_free(&cx);
    return g;
}

static int count_op(const XfGraph *g, XfOp o)
{
    int k = 0;
    for (XfId id = 1; id <= g->n_nodes; id++)
        k += g->nodes[id].op == o;
    return k;
}

/* the k-th fused group in order, or NULL */
static const XfNode *group(const XfGraph *g, int k)
{
    for (XfId id = 1; id <= g->n_nodes; id++)
        if (g->nodes[id].op == XF_OP_FUSED && k-- == 0)
            return &g->nodes[id];
    return NULL;
}

static void attention_block(B *b, XfId *q_out, XfId *k_out, XfId *v_out)
{
    XfId h = rmsnorm(b, b->x, "norm");
    XfId q = linear(b, h, "wq", D), k = linear(b, h, "wk", 8), v = linear(b, h, "wv", 8);
    XfAttrs rq = {.heads = 4, .head_dim = 4, .base = 10000};
    XfAttrs rk = {.heads = 2, .head_dim = 4, .base = 10000};
    *q_out = op(b, XF_OP_ROPE, &rq, 2, q, b->pos);
    *k_out = op(b, XF_OP_ROPE, &rk, 2, k, b->pos);
    *v_out = v;
}

static XfId attend(B *b, XfId q, XfId k, XfId v)
{
    XfAttrs a = {.heads = 4, .kv_heads = 2, .head_dim = 4, .causal = true, .layer = 0};
    b->g->n_layers_kv = 1;
    return op(b, XF_OP_ATTENTION, &a, 4, q, k, v, b->pos);
}

/* norm prologue + sibling projections + RoPE epilogues: one group, 3 segments */
static void qkv_with_norm_and_rope(void **state)
{
    (void)state;
    B b = begin();
    XfId q, k, v;
    attention_block(&b, &q, &k, &v);
    XfId a = attend(&b, q, k, v);
    finish(&b, a, true);
    const XfNode *f = group(b.g, 0);
    assert_non_null(f);
    const XfFuse *fu = f->attr.fuse;
    assert_string_equal(fu->name, "fused[rmsnorm > linear x3 > rope x2]");
    assert_int_equal(fu->norm, XF_NORM_RMS);
    assert_int_equal(fu->n_seg, 3);
    assert_int_equal(fu->n_members, 6);
    assert_int_equal(fu->seg[0].cols, 16);
    assert_true(fu->seg[0].rope_pos >= 0 && fu->seg[1].rope_pos >= 0 && fu->seg[2].rope_pos < 0);
    assert_int_equal(fu->seg[1].rope_heads, 2);
    /* every member keeps its .xf line, in order */
    for (int m = 1; m < fu->n_members; m++)
        assert_true(fu->members[m].loc.line > fu->members[m - 1].loc.line);
    assert_int_equal(count_op(b.g, XF_OP_PART), 3);
    assert_int_equal(count_op(b.g, XF_OP_RMSNORM) + count_op(b.g, XF_OP_ROPE), 0);
    /* attention reads the three parts */
    for (XfId id = 1; id <= b.g->n_nodes; id++)
        if (b.g->nodes[id].op == XF_OP_ATTENTION)
            for (int i = 0; i < 3; i++)
                assert_int_equal(b.g->nodes[b.g->nodes[id].in[i]].op, XF_OP_PART);
    ir_graph_free(b.g);
}

/* --no-fuse: the graph is left as it is */
static void no_fuse_changes_nothing(void **state)
{
    (void)state;
    B b = begin();
    XfId q, k, v;
    attention_block(&b, &q, &k, &v);
    XfId a = attend(&b, q, k, v);
    uint32_t before = b.g->n_nodes + 1;     /* + the lm_head finish adds */
    finish(&b, a, false);
    assert_int_equal(b.g->n_nodes, before + 1);   /* its weight, too */
    assert_null(group(b.g, 0));
    ir_graph_free(b.g);
}

/* a norm output that a non-linear op also reads is stored: no prologue */
static void norm_with_other_reader_is_not_a_prologue(void **state)
{
    (void)state;
    B b = begin();
    XfId h = rmsnorm(&b, b.x, "norm");
    XfId u = linear(&b, h, "w1", D);
    XfId s = op(&b, XF_OP_ADD, NULL, 2, u, h);      /* h read by add as well */
    finish(&b, s, true);
    assert_int_equal(count_op(b.g, XF_OP_RMSNORM), 1);
    const XfNode *f = group(b.g, 0);
    assert_non_null(f);         /* the add still becomes the linear's epilogue */
    assert_string_equal(f->attr.fuse->name, "fused[linear > add]");
    assert_int_equal(f->attr.fuse->norm, XF_NORM_NONE);
    ir_graph_free(b.g);
}

/* gate and up of a gated FFN: one segment with a GLU epilogue; then the down
 * projection with its residual */
static void gated_ffn_glu_and_residual(void **state)
{
    (void)state;
    B b = begin();
    XfId h = rmsnorm(&b, b.x, "norm");
    XfId up = linear(&b, h, "w1", 24), gate = linear(&b, h, "w3", 24);
    XfAttrs ga = {.act = XF_ACT_SILU};
    XfId g = op(&b, XF_OP_GLU, &ga, 2, up, gate);
    XfId d = linear(&b, g, "w2", D);
    XfId r = op(&b, XF_OP_ADD, NULL, 2, b.x, d);
    finish(&b, r, true);
    const XfNode *f0 = group(b.g, 0), *f1 = group(b.g, 1);
    assert_non_null(f0);
    assert_non_null(f1);
    assert_string_equal(f0->attr.fuse->name, "fused[rmsnorm > linear x2 > glu]");
    assert_int_equal(f0->attr.fuse->n_seg, 1);
    const XfFuseSeg *sg = &f0->attr.fuse->seg[0];
    assert_true(sg->glu);
    assert_int_equal(sg->act, XF_ACT_SILU);
    /* act(a) * b keeps its operands: a is w1's product, b is w3's */
    assert_string_equal(b.g->nodes[f0->in[sg->w]].attr.name, "w1");
    assert_string_equal(b.g->nodes[f0->in[sg->w2]].attr.name, "w3");
    assert_string_equal(f1->attr.fuse->name, "fused[linear > add]");
    assert_int_equal(count_op(b.g, XF_OP_PART), 0);
    ir_graph_free(b.g);
}

/* bias and activation (and a bias on the residual branch) */
static void bias_act_epilogue(void **state)
{
    (void)state;
    B b = begin();
    XfId u = linear(&b, b.x, "w1", 24);
    XfId ub = op(&b, XF_OP_ADD_BIAS, NULL, 2, u, w1(&b, "b1", 24));
    XfAttrs aa = {.act = XF_ACT_GELU_TANH};
    XfId ua = op(&b, XF_OP_ACT, &aa, 1, ub);
    XfId d = linear(&b, ua, "w2", D);
    XfId db = op(&b, XF_OP_ADD_BIAS, NULL, 2, d, w1(&b, "b2", D));
    XfId r = op(&b, XF_OP_ADD, NULL, 2, b.x, db);
    finish(&b, r, true);
    assert_string_equal(group(b.g, 0)->attr.fuse->name, "fused[linear > add_bias > act]");
    assert_string_equal(group(b.g, 1)->attr.fuse->name, "fused[linear > add_bias > add]");
    assert_int_equal(count_op(b.g, XF_OP_ADD_BIAS) + count_op(b.g, XF_OP_ACT), 0);
    ir_graph_free(b.g);
}

/* a linear output read by two residual adds keeps its buffer: no epilogue */
static void value_used_by_two_residuals(void **state)
{
    (void)state;
    B b = begin();
    XfId l = linear(&b, b.x, "w1", D);
    XfId r1 = op(&b, XF_OP_ADD, NULL, 2, b.x, l);
    XfId r2 = op(&b, XF_OP_ADD, NULL, 2, r1, l);
    finish(&b, r2, true);
    assert_null(group(b.g, 0));
    assert_int_equal(count_op(b.g, XF_OP_ADD), 2);
    ir_graph_free(b.g);
}

/* an intermediate (a projection before its bias) read elsewhere: nothing fuses */
static void intermediate_read_elsewhere(void **state)
{
    (void)state;
    B b = begin();
    XfId l = linear(&b, b.x, "w1", D);
    XfId lb = op(&b, XF_OP_ADD_BIAS, NULL, 2, l, w1(&b, "b1", D));
    XfAttrs aa = {.act = XF_ACT_RELU};
    XfId other = op(&b, XF_OP_ACT, &aa, 1, l);
    XfId s = op(&b, XF_OP_ADD, NULL, 2, lb, other);
    finish(&b, s, true);
    assert_null(group(b.g, 0));
    ir_graph_free(b.g);
}

/* A MoD instance on b.x and its combine: h = rmsnorm(b.x); router, select,
 * gathers of h and b.x, then y = xk + linear(hk) (residual) or linear(hk) on
 * the k routed rows; returns mod_combine(b.x, xk, y, r, idx).  *h_out, *y_out. */
static XfId mod_block(B *b, bool residual, bool sigmoid, XfId *h_out, XfId *y_out)
{
    XfId h = rmsnorm(b, b->x, "norm");
    XfId r = linear(b, b->x, "router", 1);
    XfAttrs sa = {.capacity = {1, 2}, .threshold = 0};
    XfId sel = op(b, XF_OP_MOD_SELECT, &sa, 1, r);
    XfId hk = op(b, XF_OP_GATHER, NULL, 2, h, sel);
    XfId xk = op(b, XF_OP_GATHER, NULL, 2, b->x, sel);
    XfId l = linear(b, hk, "w", D);
    XfId y = residual ? op(b, XF_OP_ADD, NULL, 2, xk, l) : l;
    XfAttrs ca = {.sigmoid = sigmoid};
    *h_out = h, *y_out = y;
    return op(b, XF_OP_MOD_COMBINE, &ca, 5, b->x, xk, y, r, sel);
}

/* MoD: the norm's output is gathered into the routed rows, so it has a
 * non-linear reader and stays; inside the instance (k rows) the product and
 * its residual form a group on their own rows, and the combine back onto
 * the n rows becomes its epilogue: y is never stored */
static void mod_combine_epilogue(void **state)
{
    (void)state;
    B b = begin();
    XfId h, y;
    XfId c = mod_block(&b, true, true, &h, &y);
    XfId out = op(&b, XF_OP_ADD, NULL, 2, c, h);
    finish(&b, out, true);
    assert_int_equal(count_op(b.g, XF_OP_RMSNORM), 1);
    assert_int_equal(count_op(b.g, XF_OP_MOD_COMBINE), 0);
    const XfNode *f = group(b.g, 0);
    assert_non_null(f);
    const XfFuse *fu = f->attr.fuse;
    assert_string_equal(fu->name, "fused[linear > add > mod_combine]");
    assert_int_equal(fu->combine, XF_COMBINE_MOD);
    assert_true(fu->mod_sigmoid);
    assert_int_equal(f->shape.stream, 1);                       /* writes the n token rows */
    assert_int_not_equal(b.g->nodes[f->in[0]].shape.stream, 1); /* its product reads k rows */
    assert_int_equal(b.g->nodes[f->in[fu->base]].op, XF_OP_EMBED);
    assert_int_equal(b.g->nodes[f->in[fu->mod_idx]].op, XF_OP_MOD_SELECT);
    assert_int_equal(b.g->nodes[f->in[fu->mod_xt]].op, XF_OP_GATHER);
    assert_int_equal(fu->seg[0].res, fu->mod_xt);               /* the residual is x's gathered rows */
    assert_int_equal(fu->n_members, 3);
    assert_null(group(b.g, 1));
    ir_graph_free(b.g);
}

/* a lone product as the instance's last value: the combine alone is its
 * epilogue; y read by the combine and by something else is stored: then the
 * combine stays */
static void mod_combine_lone_or_read_twice(void **state)
{
    (void)state;
    for (int twice = 0; twice < 2; twice++) {
        B b = begin();
        XfId h, y;
        XfId c = mod_block(&b, twice, false, &h, &y);
        if (twice) {
            XfAttrs aa = {.act = XF_ACT_RELU};
            op(&b, XF_OP_ACT, &aa, 1, y);           /* k rows, a second reader of y */
        }
        finish(&b, c, true);
        const XfNode *f = group(b.g, 0);
        assert_non_null(f);
        assert_string_equal(f->attr.fuse->name, twice ? "fused[linear > add]" : "fused[linear > mod_combine]");
        assert_int_equal(f->attr.fuse->combine, twice ? XF_COMBINE_NONE : XF_COMBINE_MOD);
        assert_int_equal(f->shape.stream == 1, !twice);     /* else on the routed rows */
        assert_int_equal(count_op(b.g, XF_OP_MOD_COMBINE), twice);
        ir_graph_free(b.g);
    }
}

/* the fused combine writes over x when the combine is x's last reader, and
 * into a buffer of its own when x is read later; fused and unfused count
 * the same FLOPs and parameters, and fused makes fewer kernel calls */
static void mod_combine_in_place(void **state)
{
    (void)state;
    XfStats st[2];
    for (int later = 0; later < 2; later++)
        for (int fuse = 0; fuse < 2; fuse++) {
            B b = begin();
            XfId h, y;
            XfId c = mod_block(&b, true, false, &h, &y);
            XfId out = later ? op(&b, XF_OP_ADD, NULL, 2, c, b.x) : c;
            XfGraph *g = pipeline(&b, out, fuse, later ? NULL : &st[fuse]);
            for (XfId id = 1; id <= g->n_nodes; id++) {
                const XfNode *x = &g->nodes[id];
                if (x->op != XF_OP_FUSED || x->attr.fuse->combine != XF_COMBINE_MOD)
                    continue;
                XfId base = x->in[x->attr.fuse->base];
                if (later)
                    assert_true(g->plan.offset[id] + g->plan.size[id] <= g->plan.offset[base] ||
                                g->plan.offset[base] + g->plan.size[base] <= g->plan.offset[id]);
                else
                    assert_int_equal(g->plan.offset[id], g->plan.offset[base]);
            }
            ir_graph_free(g);
        }
    assert_true(st[1].forward.kernels < st[0].forward.kernels);
    assert_true(st[1].decode.kernels < st[0].decode.kernels);
    assert_true(fabs(st[0].total.flops - st[1].total.flops) <= 1e-9 * st[0].total.flops);
    assert_true(fabs(st[0].total.flops_dense - st[1].total.flops_dense) <= 1e-9 * st[0].total.flops_dense);
    assert_true(st[0].total.params_active == st[1].total.params_active);
}

/* An MoE sublayer on h: route, up/gate, down (grouped products), combine;
 * returns the combine. */
static XfId moe_layer(B *b, XfId h, int top_k, bool glu)
{
    XfId logits = linear(b, h, "router", 4);
    XfAttrs ra = {.experts = 4, .top_k = top_k, .renorm = top_k > 1};
    XfId route = op(b, XF_OP_MOE_ROUTE, &ra, 1, logits);
    XfId xs = op(b, XF_OP_MOE_GATHER, NULL, 2, h, route);
    XfLoc l = {1, 1, 1};
    XfId w1 = ir_weight_add(b->g, "w1", 3, (int64_t[]){4, 24, D}, l);
    XfId w2 = ir_weight_add(b->g, "w2", 3, (int64_t[]){4, D, 24}, l);
    XfId u = op(b, XF_OP_GROUPED_LINEAR, NULL, 3, xs, w1, route);
    if (glu) {
        XfId w3 = ir_weight_add(b->g, "w3", 3, (int64_t[]){4, 24, D}, l);
        XfId gt = op(b, XF_OP_GROUPED_LINEAR, NULL, 3, xs, w3, route);
        XfAttrs ga = {.act = XF_ACT_GELU};
        u = op(b, XF_OP_GLU, &ga, 2, u, gt);
    } else {
        XfAttrs aa = {.act = XF_ACT_RELU};
        u = op(b, XF_OP_ACT, &aa, 1, u);
    }
    XfId d = op(b, XF_OP_GROUPED_LINEAR, NULL, 3, u, w2, route);
    return op(b, XF_OP_MOE_COMBINE, NULL, 2, d, route);
}

/* MoE: the gather folds into the expert products' row indexing and the up
 * and gate products pair into one GLU segment; the router still reads the
 * norm, so the norm stays a node; with top_k = 2 the down product and the
 * combine stay (a token's ranks are summed in rank order across experts) */
static void moe_gather_glu(void **state)
{
    (void)state;
    B b = begin();
    XfId h = rmsnorm(&b, b.x, "norm");
    XfId logits = linear(&b, h, "router", 4);
    XfAttrs ra = {.experts = 4, .top_k = 2, .renorm = true};
    XfId route = op(&b, XF_OP_MOE_ROUTE, &ra, 1, logits);
    XfId xs = op(&b, XF_OP_MOE_GATHER, NULL, 2, h, route);
    XfLoc l = {1, 1, 1};
    XfId w1 = ir_weight_add(b.g, "w1", 3, (int64_t[]){4, 24, D}, l);
    XfId w3 = ir_weight_add(b.g, "w3", 3, (int64_t[]){4, 24, D}, l);
    XfId w2 = ir_weight_add(b.g, "w2", 3, (int64_t[]){4, D, 24}, l);
    XfId u = op(&b, XF_OP_GROUPED_LINEAR, NULL, 3, xs, w1, route);
    XfId gt = op(&b, XF_OP_GROUPED_LINEAR, NULL, 3, xs, w3, route);
    XfAttrs ga = {.act = XF_ACT_GELU};
    XfId g = op(&b, XF_OP_GLU, &ga, 2, u, gt);
    XfId d = op(&b, XF_OP_GROUPED_LINEAR, NULL, 3, g, w2, route);
    XfId c = op(&b, XF_OP_MOE_COMBINE, NULL, 2, d, route);
    XfId r = op(&b, XF_OP_ADD, NULL, 2, b.x, c);
    finish(&b, r, true);
    const XfNode *f = group(b.g, 0);
    assert_non_null(f);
    assert_string_equal(f->attr.fuse->name, "fused[moe_gather > grouped_linear x2 > glu]");
    assert_true(f->attr.fuse->gathered);
    assert_int_equal(b.g->nodes[f->in[f->attr.fuse->route]].op, XF_OP_MOE_ROUTE);
    assert_int_equal(b.g->nodes[f->in[0]].op, XF_OP_RMSNORM);   /* reads token rows */
    assert_int_not_equal(f->shape.stream, 1);                   /* writes assignment rows */
    assert_int_equal(count_op(b.g, XF_OP_MOE_GATHER), 0);
    assert_int_equal(count_op(b.g, XF_OP_RMSNORM), 1);
    assert_int_equal(count_op(b.g, XF_OP_GROUPED_LINEAR), 1);
    assert_int_equal(count_op(b.g, XF_OP_MOE_COMBINE), 1);
    assert_null(group(b.g, 1));     /* the residual add reads the combine: not an epilogue */
    ir_graph_free(b.g);
}

/* MoE with top_k = 1: the down product scatters gate * value to each
 * assignment's token row, with the residual add folded in */
static void moe_top1_scatter(void **state)
{
    (void)state;
    B b = begin();
    XfId h = rmsnorm(&b, b.x, "norm");
    XfId c = moe_layer(&b, h, 1, false);
    XfId r = op(&b, XF_OP_ADD, NULL, 2, b.x, c);
    finish(&b, r, true);
    const XfNode *f0 = group(b.g, 0), *f1 = group(b.g, 1);
    assert_non_null(f0);
    assert_non_null(f1);
    assert_string_equal(f0->attr.fuse->name, "fused[moe_gather > grouped_linear > act]");
    const XfFuse *fu = f1->attr.fuse;
    assert_string_equal(fu->name, "fused[grouped_linear > moe_combine > add]");
    assert_int_equal(fu->combine, XF_COMBINE_MOE);
    assert_int_equal(f1->shape.stream, 1);                      /* token rows */
    assert_int_equal(b.g->nodes[f1->in[fu->base]].op, XF_OP_EMBED);
    assert_ptr_equal(f1, &b.g->nodes[b.g->nodes[b.g->logits].in[0]]);
    assert_int_equal(count_op(b.g, XF_OP_MOE_COMBINE) + count_op(b.g, XF_OP_GROUPED_LINEAR) +
                     count_op(b.g, XF_OP_ADD), 0);
    ir_graph_free(b.g);
}

/* top_k = 1 with a combine read twice: the scatter forms, without the add */
static void moe_top1_combine_read_twice(void **state)
{
    (void)state;
    B b = begin();
    XfId h = rmsnorm(&b, b.x, "norm");
    XfId c = moe_layer(&b, h, 1, false);
    XfId r = op(&b, XF_OP_ADD, NULL, 2, b.x, c);
    XfId r2 = op(&b, XF_OP_ADD, NULL, 2, r, c);
    finish(&b, r2, true);
    const XfNode *f1 = group(b.g, 1);
    assert_non_null(f1);
    assert_string_equal(f1->attr.fuse->name, "fused[grouped_linear > moe_combine]");
    assert_int_equal(f1->attr.fuse->base, -1);
    assert_int_equal(count_op(b.g, XF_OP_ADD), 2);
    ir_graph_free(b.g);
}

/* top_k = 2: the combine must see every expert's rows, so nothing scatters;
 * the residual add joins the combine's kernel (a third operand), unless the
 * combine has another reader */
static void moe_top2_no_scatter(void **state)
{
    (void)state;
    for (int twice = 0; twice < 2; twice++) {
        B b = begin();
        XfId h = rmsnorm(&b, b.x, "norm");
        XfId c = moe_layer(&b, h, 2, false);
        XfId r = op(&b, XF_OP_ADD, NULL, 2, b.x, c);
        if (twice)
            r = op(&b, XF_OP_ADD, NULL, 2, r, c);
        finish(&b, r, true);
        assert_int_equal(count_op(b.g, XF_OP_MOE_COMBINE), 1);
        assert_int_equal(count_op(b.g, XF_OP_GROUPED_LINEAR), 1);
        assert_null(group(b.g, 1));
        assert_int_equal(count_op(b.g, XF_OP_ADD), twice ? 2 : 0);
        for (XfId id = 1; id <= b.g->n_nodes; id++)
            if (b.g->nodes[id].op == XF_OP_MOE_COMBINE) {
                assert_int_equal(b.g->nodes[id].n_in, twice ? 2 : 3);
                if (!twice)
                    assert_int_equal(b.g->nodes[b.g->nodes[id].in[2]].op, XF_OP_EMBED);
            }
        ir_graph_free(b.g);
    }
}

/* the scatter writes over the residual when the add is its last reader;
 * stats agree fused and unfused */
static void moe_scatter_in_place_and_stats(void **state)
{
    (void)state;
    XfStats st[2];
    for (int fuse = 0; fuse < 2; fuse++) {
        B b = begin();
        XfId h = rmsnorm(&b, b.x, "norm");
        XfId c = moe_layer(&b, h, 1, true);
        XfId r = op(&b, XF_OP_ADD, NULL, 2, b.x, c);
        XfGraph *g = pipeline(&b, r, fuse, &st[fuse]);
        int scatters = 0;
        for (XfId id = 1; id <= g->n_nodes; id++) {
            const XfNode *x = &g->nodes[id];
            if (x->op != XF_OP_FUSED || x->attr.fuse->combine != XF_COMBINE_MOE)
                continue;
            scatters++;
            assert_int_equal(g->plan.offset[id], g->plan.offset[x->in[x->attr.fuse->base]]);
        }
        assert_int_equal(scatters, fuse);
        ir_graph_free(g);
    }
    assert_true(st[1].decode.kernels + 2 <= st[0].decode.kernels);
    assert_true(fabs(st[0].total.flops - st[1].total.flops) <= 1e-9 * st[0].total.flops);
    assert_true(fabs(st[0].total.flops_dense - st[1].total.flops_dense) <= 1e-9 * st[0].total.flops_dense);
    assert_true(fabs(st[0].total.params_active - st[1].total.params_active) <= 1e-9 * st[0].total.params_active);
}

/* the final norm and the LM head: a group that is the output */
static void output_group(void **state)
{
    (void)state;
    B b = begin();
    XfId h = rmsnorm(&b, b.x, "norm.weight");
    finish(&b, h, true);
    const XfNode *f = group(b.g, 0);
    assert_non_null(f);
    assert_string_equal(f->attr.fuse->name, "fused[rmsnorm > linear]");
    assert_true(f->flags & XF_NODE_OUTPUT);
    assert_ptr_equal(f, &b.g->nodes[b.g->logits]);
    ir_graph_free(b.g);
}

/* the pipeline's stats are the same fused and unfused (the group records its
 * members' FLOPs), and the fused plan places parts inside their group */
static void stats_and_plan(void **state)
{
    (void)state;
    XfStats st[2];
    for (int fuse = 0; fuse < 2; fuse++) {
        B b = begin();
        XfId q, k, v;
        attention_block(&b, &q, &k, &v);
        XfId a = attend(&b, q, k, v);
        XfGraph *g = pipeline(&b, a, fuse, &st[fuse]);
        for (XfId id = 1; id <= g->n_nodes; id++)
            if (g->nodes[id].op == XF_OP_PART)
                assert_int_equal(g->plan.offset[id], -1);
        ir_graph_free(g);
    }
    /* the work per call: fused makes fewer kernel calls, meets fewer times and
     * moves fewer activation bytes; one parallel region either way */
    for (int d = 0; d < 2; d++) {
        const XfWork *u = d ? &st[0].decode : &st[0].forward, *f = d ? &st[1].decode : &st[1].forward;
        assert_true(u->regions == 1 && f->regions == 1);
        assert_true(f->kernels < u->kernels);
        assert_true(f->barriers < u->barriers);
        assert_true(f->bytes_written < u->bytes_written && f->bytes_read < u->bytes_read);
    }
    assert_true(st[1].decode.bytes_read < st[1].forward.bytes_read);
    assert_true(st[1].decode.kernels == st[1].forward.kernels);
    assert_true(st[0].total.flops == st[1].total.flops);
    assert_true(st[0].total.flops_dense == st[1].total.flops_dense);
    assert_true(st[0].total.params == st[1].total.params);
    assert_true(st[0].total.params_active == st[1].total.params_active);
}

/* pass sched: threads meet only before a kernel that reads what an unfinished
 * one writes (or writes bytes one reads): unfused Q, K and V read one norm
 * output and write three buffers, so only the first waits */
static void sched_barriers_only_on_dependencies(void **state)
{
    (void)state;
    B b = begin();
    XfId q, k, v;
    attention_block(&b, &q, &k, &v);
    XfId a = attend(&b, q, k, v);
    XfGraph *g = pipeline(&b, a, false, NULL);
    int lin = 0, ropes = 0, barriers = 0, kernels = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        kernels += xf_op_info[x->op].calls > 0;
        barriers += (x->flags & XF_NODE_BARRIER) != 0;
        if (x->op == XF_OP_LINEAR && lin++ < 3)     /* q waits for the norm; k and v do not */
            assert_int_equal((x->flags & XF_NODE_BARRIER) != 0, lin == 1);
        if ((x->op == XF_OP_ROPE && ropes++ == 0) || x->op == XF_OP_ATTENTION)
            assert_true(x->flags & XF_NODE_BARRIER);     /* each reads what the last one wrote */
        if (!xf_op_info[x->op].calls)
            assert_false(x->flags & XF_NODE_BARRIER);
    }
    assert_int_equal(lin, 4);
    assert_true(barriers < kernels);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qkv_with_norm_and_rope),
        cmocka_unit_test(no_fuse_changes_nothing),
        cmocka_unit_test(norm_with_other_reader_is_not_a_prologue),
        cmocka_unit_test(gated_ffn_glu_and_residual),
        cmocka_unit_test(bias_act_epilogue),
        cmocka_unit_test(value_used_by_two_residuals),
        cmocka_unit_test(intermediate_read_elsewhere),
        cmocka_unit_test(mod_combine_epilogue),
        cmocka_unit_test(mod_combine_lone_or_read_twice),
        cmocka_unit_test(mod_combine_in_place),
        cmocka_unit_test(moe_gather_glu),
        cmocka_unit_test(moe_top1_scatter),
        cmocka_unit_test(moe_top1_combine_read_twice),
        cmocka_unit_test(moe_top2_no_scatter),
        cmocka_unit_test(moe_scatter_in_place_and_stats),
        cmocka_unit_test(output_group),
        cmocka_unit_test(stats_and_plan),
        cmocka_unit_test(sched_barriers_only_on_dependencies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
