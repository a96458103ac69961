/* test_passes.c - the IR builder, verifier and each pass on graphs lowered
 * from models built in code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "passes/passes.h"
#include "runtime/xfrt.h"
#include "xf_test_models.h"

static XfGraph *lower_mixed(int mod_at, XfRatio mod_cap, XfRatio moe_cap)
{
    static XfSublayerDesc subs[4];
    static XfBlockInst blocks[3];
    subs[0] = tm_attn(4, 2, 6, false, 0);
    subs[1] = tm_ffn(40, XF_ACT_GEGLU, true);
    subs[2] = tm_moe(5, 2, 16, moe_cap);
    subs[3] = tm_sffn(30, 5, 3);
    XfModelDesc m = tm_model(subs, 4, blocks, 3, mod_at, mod_cap);
    return fe_model_lower(&m, "tests/tiny.xf");
}

static bool run_all(XfGraph *g, XfPassCtx *cx)
{
    cx->err = stderr;
    cx->dump_out = stdout;
    cx->verify = true;
    return pass_pipeline_run(g, cx);
}

static void lowered_graph_verifies(void **state)
{
    (void)state;
    XfGraph *g = lower_mixed(1, (XfRatio){1, 8}, (XfRatio){0, 1});
    assert_true(ir_verify(g, stderr));
    /* SPEC 4 names: spot-check a few */
    int found = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *n = &g->nodes[id];
        if (n->op != XF_OP_WEIGHT)
            continue;
        if (!strcmp(n->attr.name, "blocks.1.mod.router"))
            found += n->shape.dim[0] == 1 && n->shape.dim[1] == 24;
        if (!strcmp(n->attr.name, "blocks.2.2.moe.w2"))
            found += n->shape.dim[0] == 5 && n->shape.dim[1] == 24 && n->shape.dim[2] == 16;
        if (!strcmp(n->attr.name, "blocks.0.1.ffn.b3"))
            found += n->shape.dim[0] == 40;
        if (!strcmp(n->attr.name, "blocks.0.0.attn.wk"))
            found += n->shape.dim[0] == 12 && n->shape.dim[1] == 24;
        if (!strcmp(n->attr.name, "blocks.0.3.sffn.c2"))
            found += n->shape.dim[0] == 30 && n->shape.dim[1] == 3;
    }
    assert_int_equal(found, 5);
    ir_graph_free(g);
}

static void verifier_catches_broken_graphs(void **state)
{
    (void)state;
    XfGraph *g = lower_mixed(-1, (XfRatio){1, 1}, (XfRatio){0, 1});
    FILE *sink = tmpfile();
    /* an input that does not precede its user */
    XfId last = g->n_nodes, user = 1;
    while (g->nodes[user].n_in == 0)
        user++;
    XfId saved = g->nodes[user].in[0];
    g->nodes[user].in[0] = last;
    assert_false(ir_verify(g, sink));
    g->nodes[user].in[0] = saved;
    assert_true(ir_verify(g, sink));
    /* a stored shape that disagrees with the rule */
    g->nodes[last].shape.dim[1] += 1;
    assert_false(ir_verify(g, sink));
    g->nodes[last].shape.dim[1] -= 1;
    /* arity outside the table */
    uint8_t n_in = g->nodes[last].n_in;
    g->nodes[last].n_in = 1;
    assert_false(ir_verify(g, sink));
    g->nodes[last].n_in = n_in;
    assert_true(ir_verify(g, sink));
    fclose(sink);
    ir_graph_free(g);
}

static void topk_plan_bounds(void **state)
{
    (void)state;
    /* context 20: MoD 0.3 gives k = ceil(6.0) = 6 exactly (not 7) */
    XfGraph *g = lower_mixed(1, (XfRatio){3, 10}, (XfRatio){5, 4});
    XfPassCtx cx = {0};
    assert_true(run_all(g, &cx));
    int n_mod = 0, n_moe = 0;
    for (uint32_t s = 2; s < g->n_streams; s++) {
        const XfStream *st = &g->streams[s];
        int64_t parent = ir_stream_bound(g, st->parent);
        if (st->kind == XF_STREAM_MOD) {
            assert_int_equal(st->bound, 6);
            n_mod++;
        } else {
            /* C = ceil(1.25 * T * 2 / 5); rows <= min(2T, 5C) */
            int64_t C = (5 * parent * 2 + 4 * 5 - 1) / (4 * 5);
            int64_t want = 5 * C < 2 * parent ? 5 * C : 2 * parent;
            assert_int_equal(st->bound, want);
            assert_non_null(st->derivation);
            n_moe++;
        }
    }
    assert_int_equal(n_mod, 1);
    assert_int_equal(n_moe, 3);
    /* every buffer of the MoD stream is sized by k, not by the context */
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *n = &g->nodes[id];
        if (n->shape.stream > 1 && g->streams[n->shape.stream].kind == XF_STREAM_MOD)
            assert_int_equal(n->shape.dim[0], 6);
    }
    pass_ctx_free(&cx);
    ir_graph_free(g);
}

static void memplan_never_overlaps_live_buffers(void **state)
{
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        XfGraph *g = lower_mixed(variant - 1, (XfRatio){1, 8}, (XfRatio){variant, 1});
        XfPassCtx cx = {0};
        assert_true(run_all(g, &cx));
        const XfMemPlan *p = &g->plan;
        assert_true(p->done);
        uint32_t n = g->n_nodes;
        XfId *last = calloc(n + 1, sizeof *last);
        for (XfId id = 1; id <= n; id++) {
            last[id] = id;
            for (int i = 0; i < g->nodes[id].n_in; i++)
                last[g->nodes[id].in[i]] = id;
        }
        int64_t total = 0;
        for (XfId a = 1; a <= n; a++) {
            if (p->offset[a] < 0)
                continue;
            assert_true(p->size[a] >= ir_node_bytes(g, a));
            assert_true(p->offset[a] + p->size[a] <= p->arena_bytes);
            total += p->size[a];
            for (XfId b = a + 1; b <= n; b++) {
                if (p->offset[b] < 0 || b > last[a])
                    continue;   /* b is defined after a died: may reuse */
                bool disjoint = p->offset[a] + p->size[a] <= p->offset[b] ||
                                p->offset[b] + p->size[b] <= p->offset[a];
                if (!disjoint)
                    fail_msg("t%u and t%u are live together and overlap", a, b);
            }
        }
        /* reuse actually happens */
        assert_true(p->arena_bytes < total);
        free(last);
        pass_ctx_free(&cx);
        ir_graph_free(g);
    }
}

static void dce_removes_unreachable_and_renumbers(void **state)
{
    (void)state;
    XfGraph *g = lower_mixed(-1, (XfRatio){1, 1}, (XfRatio){0, 1});
    uint32_t before = g->n_nodes;
    /* add dead nodes: a weight and an add nobody uses */
    int64_t d[1] = {24};
    XfId w = ir_weight_add(g, "unused", 1, d, (XfLoc){0, 0, 0});
    XfId emb = 0;
    for (XfId id = 1; id <= g->n_nodes; id++)
        if (g->nodes[id].op == XF_OP_EMBED)
            emb = id;
    XfId in[2] = {emb, w};
    ir_node_add(g, XF_OP_ADD_BIAS, in, 2, NULL, (XfLoc){0, 0, 0});
    XfPassCtx cx = {.scratch = xf_arena_new()};
    assert_true(pass_dce(g, &cx));
    assert_int_equal(g->n_nodes, before);
    assert_true(ir_verify(g, stderr));
    for (XfId id = 1; id <= g->n_nodes; id++)
        if (g->nodes[id].op == XF_OP_WEIGHT)
            assert_string_not_equal(g->nodes[id].attr.name, "unused");
    pass_ctx_free(&cx);
    ir_graph_free(g);
}

/* Attention FLOPs use closed forms for the keys each query sees (stats.c);
 * here they are counted position by position, for causal and bidirectional
 * windows below, at and above the context. */
static double brute_keys(int64_t T, bool causal, int64_t w)
{
    double sum = 0;
    for (int64_t p = 0; p < T; p++)
        for (int64_t k = 0; k < T; k++)
            sum += (!causal || k <= p) && (w == 0 || (k > p ? k - p : p - k) < w);
    return sum / (double)T;
}

static double attn_block_flops(bool bidir, int64_t window)
{
    static XfSublayerDesc subs[1];
    static XfBlockInst blocks[1];
    subs[0] = tm_attn(4, 2, 6, bidir, window);
    XfModelDesc m = tm_model(subs, 1, blocks, 1, -1, (XfRatio){0, 1});
    XfGraph *g = fe_model_lower(&m, "tests/tiny.xf");
    XfPassCtx cx = {0};
    assert_true(run_all(g, &cx));
    double f = cx.stats.block[0].flops;
    pass_ctx_free(&cx);
    ir_graph_free(g);
    return f;
}

static void stats_attention_keys_closed_form(void **state)
{
    (void)state;
    const int64_t T = 20;       /* tm_model's context */
    for (int bidir = 0; bidir < 2; bidir++) {
        double full = attn_block_flops(bidir, 0);
        for (int64_t w = 1; w <= T + 3; w++) {
            double want = full - 4.0 * 4 * 6 * (brute_keys(T, !bidir, 0) - brute_keys(T, !bidir, w));
            double got = attn_block_flops(bidir, w);
            if (fabs(got - want) > 1e-9 * want)
                fail_msg("bidirectional %d window %lld: %.6f FLOPs, want %.6f", bidir,
                         (long long)w, got, want);
        }
    }
}

static void stats_predict_routed_flops(void **state)
{
    (void)state;
    /* same model with and without a MoD instance at capacity 1/4 */
    XfGraph *dense = lower_mixed(-1, (XfRatio){1, 4}, (XfRatio){0, 1});
    XfGraph *routed = lower_mixed(1, (XfRatio){1, 4}, (XfRatio){0, 1});
    XfPassCtx a = {0}, b = {0};
    assert_true(run_all(dense, &a));
    assert_true(run_all(routed, &b));
    /* block 1 runs on 5 of 20 tokens: its FLOPs/token drop to about a quarter */
    double r = b.stats.block[1].flops / a.stats.block[1].flops;
    assert_true(r > 0.05 && r < 0.3);
    assert_true(b.stats.block[1].flops_dense >= a.stats.block[1].flops * 0.99);
    /* MoE top-2 of 5: activated expert parameters are 2/5 of the stack */
    assert_true(a.stats.total.params_active < a.stats.total.params);
    assert_true(a.stats.total.flops < a.stats.total.flops_dense);
    /* parameters are identical but for the MoD router */
    assert_true(b.stats.total.params - a.stats.total.params == 24);
    pass_ctx_free(&a);
    pass_ctx_free(&b);
    ir_graph_free(dense);
    ir_graph_free(routed);
}

static void dump_is_stable_and_names_lines(void **state)
{
    (void)state;
    char *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0;
    for (int i = 0; i < 2; i++) {
        XfGraph *g = lower_mixed(1, (XfRatio){1, 8}, (XfRatio){1, 1});
        XfPassCtx cx = {0};
        assert_true(run_all(g, &cx));
        FILE *f = open_memstream(i ? &s2 : &s1, i ? &n2 : &n1);
        ir_graph_dump(g, f);
        fclose(f);
        pass_ctx_free(&cx);
        ir_graph_free(g);
    }
    assert_int_equal(n1, n2);
    assert_memory_equal(s1, s2, n1);
    assert_non_null(strstr(s1, "tiny.xf:3"));
    assert_non_null(strstr(s1, "mod_select"));
    assert_non_null(strstr(s1, "# memory plan"));
    free(s1);
    free(s2);
}

static void many_routed_sublayers(void **state)
{
    (void)state;
    /* more streams than any small fixed table would hold: 300 MoE + 1 MoD */
    enum { N = 300 };
    XfSublayerDesc sub = tm_moe(3, 2, 8, (XfRatio){0, 1});
    XfBlockInst *blocks = calloc(N, sizeof *blocks);
    XfModelDesc m = tm_model(&sub, 1, blocks, N, 7, (XfRatio){1, 2});
    XfGraph *g = fe_model_lower(&m, "many.xf");
    XfPassCtx cx = {0};
    assert_true(run_all(g, &cx));
    assert_int_equal(g->n_streams, 2 + N + 1);
    for (uint32_t s = 2; s < g->n_streams; s++)
        assert_int_equal(ir_stream_of_def(g, g->streams[s].def), s);
    pass_ctx_free(&cx);
    ir_graph_free(g);
    free(blocks);
}

/* ir_node_bytes (what memplan reserves) and XFRT_ROUTE_BYTES (what the
 * runtime carves) describe the same routing table; ir/ may not include the
 * runtime header, so this test keeps the two formulas equal. */
static void route_bytes_match_runtime(void **state)
{
    (void)state;
    XfGraph *g = lower_mixed(-1, (XfRatio){1, 1}, (XfRatio){0, 1});
    XfPassCtx cx = {0};
    assert_true(run_all(g, &cx));
    int routes = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->op != XF_OP_MOE_ROUTE)
            continue;
        assert_int_equal(ir_node_bytes(g, id),
                         XFRT_ROUTE_BYTES(x->shape.dim[0], x->attr.experts, x->attr.top_k));
        routes++;
    }
    assert_int_equal(routes, 3);
    pass_ctx_free(&cx);
    ir_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lowered_graph_verifies),
        cmocka_unit_test(verifier_catches_broken_graphs),
        cmocka_unit_test(topk_plan_bounds),
        cmocka_unit_test(memplan_never_overlaps_live_buffers),
        cmocka_unit_test(dce_removes_unreachable_and_renumbers),
        cmocka_unit_test(stats_predict_routed_flops),
        cmocka_unit_test(stats_attention_keys_closed_form),
        cmocka_unit_test(dump_is_stable_and_names_lines),
        cmocka_unit_test(many_routed_sublayers),
        cmocka_unit_test(route_bytes_match_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
