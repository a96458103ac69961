/* test_sema.c - checking and expanding a model (frontend/sema*.c): SPEC 2's
 * defaults, SPEC 4's block numbering, and each error with its position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/frontend.h"

static XfArena *arena;

static int setup(void **state)
{
    (void)state;
    arena = xf_arena_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xf_arena_free(arena);
    return 0;
}

/* Parses and checks src; *err gets the diagnostics, *n_errors their count. */
static XfModelDesc *check_src(const char *src, const char **err, int *n_errors)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    XfDiag d;
    xf_diag_init(&d, "t.xf", src, strlen(src), f);
    XfModelDesc *m = fe_model_parse(arena, &d, src, strlen(src));
    fclose(f);
    *err = xf_arena_strdup(arena, buf);
    free(buf);
    if (n_errors)
        *n_errors = d.n_errors;
    assert_true((m != NULL) == (d.n_errors == 0));
    return m;
}

static XfModelDesc *ok(const char *src)
{
    const char *err;
    XfModelDesc *m = check_src(src, &err, NULL);
    if (!m)
        fail_msg("unexpected errors for\n%s\n%s", src, err);
    return m;
}

/* vocab 64, dim 64, context 16 on lines 2-4: `body` starts on line 5. */
static const char *with_model(const char *body)
{
    return xf_arena_printf(arena, "model m {\n  vocab = 64\n  dim = 64\n  context = 16\n%s}\n",
                           body);
}

/* The first diagnostic must start with want ("t.xf:L:C: error: ...\n"). */
static void err_is(const char *src, const char *want)
{
    const char *err;
    assert_null(check_src(src, &err, NULL));
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("for\n%s\nwant: %s\ngot:  %s", src, want, err);
}

/* Some diagnostic must be want. */
static void err_has(const char *src, const char *want)
{
    const char *err;
    assert_null(check_src(src, &err, NULL));
    if (!strstr(err, want))
        fail_msg("for\n%s\nwant: %s\ngot:  %s", src, want, err);
}

/* ---- defaults and values ------------------------------------------------ */

static void test_model_defaults(void **state)
{
    (void)state;
    XfModelDesc *m = ok("model tiny { vocab = 10 dim = 8 context = 4 layers { ffn(hidden = 16) } }");
    assert_string_equal(m->name, "tiny");
    assert_int_equal(m->loc.line, 1);
    assert_int_equal(m->loc.col, 7);
    assert_int_equal(m->vocab, 10);
    assert_int_equal(m->dim, 8);
    assert_int_equal(m->context, 4);
    assert_int_equal(m->norm.kind, XF_NORM_RMS);
    assert_true(m->norm.eps == 1e-5);
    assert_false(m->residual_post);
    assert_int_equal(m->position, XF_POS_ROPE);
    assert_false(m->tie_embeddings);
    assert_true(m->final_norm);
    assert_int_equal(m->embed_norm.kind, XF_NORM_NONE);
    assert_false(m->head_none);
    assert_int_equal(m->n_blocks, 1);
}

static void test_model_settings(void **state)
{
    (void)state;
    XfModelDesc *m = ok("model m { vocab = 10 dim = 8 context = 4 norm = layernorm(eps = 1e-6) "
                        "residual = post position = learned tie_embeddings = true "
                        "final_norm = false layers { ffn(hidden = 16) } }");
    assert_int_equal(m->norm.kind, XF_NORM_LAYER);
    assert_true(m->norm.eps == 1e-6);
    assert_true(m->residual_post);
    assert_int_equal(m->position, XF_POS_LEARNED);
    assert_true(m->tie_embeddings);
    assert_false(m->final_norm);
    m = ok("model m { vocab = 10 dim = 8 context = 4 embed_norm = layernorm head = none "
           "layers { ffn(hidden = 16) } }");
    assert_int_equal(m->embed_norm.kind, XF_NORM_LAYER);
    assert_true(m->embed_norm.eps == 1e-5);
    assert_true(m->head_none);
    m = ok("model m { vocab = 10 dim = 8 context = 4 embed_norm = rmsnorm(eps = 1e-12) "
           "head = lm layers { ffn(hidden = 16) } }");
    assert_int_equal(m->embed_norm.kind, XF_NORM_RMS);
    assert_true(m->embed_norm.eps == 1e-12);
    assert_false(m->head_none);
    m = ok("model m { vocab = 10 dim = 8 context = 4 norm = none position = none "
           "layers { ffn(hidden = 16) } }");
    assert_int_equal(m->norm.kind, XF_NORM_NONE);
    assert_int_equal(m->position, XF_POS_NONE);
    assert_int_equal(m->blocks[0].subs[0].norm.kind, XF_NORM_NONE);
    m = ok("model m { vocab = 10 dim = 8 context = 4 norm = layernorm layers { ffn(hidden = 16) } }");
    assert_int_equal(m->norm.kind, XF_NORM_LAYER);
    assert_true(m->norm.eps == 1e-5);
}

static void test_sublayer_defaults(void **state)
{
    (void)state;
    XfModelDesc *m = ok(with_model("  block b {\n"
                                   "    attention(heads = 4)\n"
                                   "    ffn(hidden = 128)\n"
                                   "    moe(experts = 4, top_k = 2, hidden = 32)\n"
                                   "    sparse_ffn(hidden = 64, block = 8)\n"
                                   "  }\n"
                                   "  layers { b }\n"));
    assert_int_equal(m->n_blocks, 1);
    const XfBlockInst *b = &m->blocks[0];
    assert_int_equal(b->n_subs, 4);
    assert_false(b->mod);
    const XfSublayerDesc *s = b->subs;
    assert_int_equal(s[0].kind, XF_SUB_ATTENTION);
    assert_int_equal(s[0].u.attn.heads, 4);
    assert_int_equal(s[0].u.attn.kv_heads, 4);
    assert_int_equal(s[0].u.attn.head_dim, 16);
    assert_true(s[0].u.attn.rope);
    assert_true(s[0].u.attn.rope_base == 10000);
    assert_false(s[0].u.attn.bidirectional);
    assert_int_equal(s[0].u.attn.window, 0);
    assert_false(s[0].u.attn.bias);
    assert_int_equal(s[1].kind, XF_SUB_FFN);
    assert_int_equal(s[1].u.ffn.hidden, 128);
    assert_int_equal(s[1].u.ffn.act, XF_ACT_GELU);
    assert_false(s[1].u.ffn.bias);
    assert_int_equal(s[2].kind, XF_SUB_MOE);
    assert_int_equal(s[2].u.moe.experts, 4);
    assert_int_equal(s[2].u.moe.top_k, 2);
    assert_int_equal(s[2].u.moe.hidden, 32);
    assert_int_equal(s[2].u.moe.act, XF_ACT_SWIGLU);
    assert_int_equal(s[2].u.moe.capacity.num, 0);
    assert_true(s[2].u.moe.renorm);
    assert_int_equal(s[3].kind, XF_SUB_SPARSE_FFN);
    assert_int_equal(s[3].u.sffn.hidden, 64);
    assert_int_equal(s[3].u.sffn.block, 8);
    assert_int_equal(s[3].u.sffn.lowrank, 8);       /* dim / 8 */
    assert_true(s[3].u.sffn.bias);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(s[i].norm.kind, XF_NORM_RMS);
        assert_true(s[i].norm.eps == 1e-5);
        assert_int_equal(s[i].loc.line, 6 + i);
        assert_int_equal(s[i].loc.col, 5);
    }
    /* lowrank is at least 1 */
    m = ok("model m { vocab = 4 dim = 4 context = 4 layers { sparse_ffn(hidden = 4, block = 2) } }");
    assert_int_equal(m->blocks[0].subs[0].u.sffn.lowrank, 1);
}

static void test_sublayer_values(void **state)
{
    (void)state;
    XfModelDesc *m = ok(with_model(
        "  block b {\n"
        "    attention(heads = 8, kv_heads = 2, head_dim = 6, rope = 500000.5, bidirectional,\n"
        "              window = 4, bias = true, norm = layernorm(eps = 1e-6))\n"
        "    attention(heads = 3, head_dim = 7, rope = none, window = none, norm = none)\n"
        "    ffn(hidden = 10, act = relu2, bias = true, norm = rmsnorm(eps = 0.5))\n"
        "    moe(experts = 8, top_k = 8, hidden = 4, act = gelu_tanh, capacity = 0.3, renorm = false)\n"
        "    sparse_ffn(hidden = 12, block = 12, lowrank = 3, bias = false)\n"
        "  }\n"
        "  layers { b }\n"));
    const XfSublayerDesc *s = m->blocks[0].subs;
    assert_int_equal(s[0].u.attn.heads, 8);
    assert_int_equal(s[0].u.attn.kv_heads, 2);
    assert_int_equal(s[0].u.attn.head_dim, 6);     /* given: dim % heads not needed */
    assert_true(s[0].u.attn.rope);
    assert_true(s[0].u.attn.rope_base == 500000.5);
    assert_true(s[0].u.attn.bidirectional);
    assert_int_equal(s[0].u.attn.window, 4);
    assert_true(s[0].u.attn.bias);
    assert_int_equal(s[0].norm.kind, XF_NORM_LAYER);
    assert_true(s[0].norm.eps == 1e-6);
    assert_false(s[1].u.attn.rope);                /* odd head_dim is fine without RoPE */
    assert_int_equal(s[1].u.attn.head_dim, 7);
    assert_int_equal(s[1].u.attn.window, 0);
    assert_int_equal(s[1].norm.kind, XF_NORM_NONE);
    assert_int_equal(s[2].u.ffn.act, XF_ACT_RELU2);
    assert_true(s[2].u.ffn.bias);
    assert_true(s[2].norm.eps == 0.5);
    assert_int_equal(s[3].u.moe.act, XF_ACT_GELU_TANH);
    assert_int_equal(s[3].u.moe.capacity.num, 3);  /* exact: 3/10 */
    assert_int_equal(s[3].u.moe.capacity.den, 10);
    assert_false(s[3].u.moe.renorm);
    assert_int_equal(s[4].u.sffn.lowrank, 3);
    assert_false(s[4].u.sffn.bias);
}

static void test_activations(void **state)
{
    (void)state;
    static const char *const names[] = {"relu", "relu2", "gelu", "gelu_tanh",
                                        "silu", "swiglu", "geglu"};
    static const XfAct acts[] = {XF_ACT_RELU, XF_ACT_RELU2, XF_ACT_GELU, XF_ACT_GELU_TANH,
                                 XF_ACT_SILU, XF_ACT_SWIGLU, XF_ACT_GEGLU};
    for (int i = 0; i < 7; i++) {
        const char *src = xf_arena_printf(arena, "model m { vocab = 4 dim = 4 context = 4 "
                                          "layers { ffn(hidden = 4, act = %s) "
                                          "moe(experts = 2, top_k = 1, hidden = 4, act = %s()) } }",
                                          names[i], names[i]);
        XfModelDesc *m = ok(src);
        assert_int_equal(m->blocks[0].subs[0].u.ffn.act, acts[i]);
        assert_int_equal(m->blocks[1].subs[0].u.moe.act, acts[i]);
    }
}

static void test_rope_and_position(void **state)
{
    (void)state;
    /* without RoPE, `rope = none` is accepted and odd head_dim is fine */
    XfModelDesc *m = ok("model m { vocab = 4 dim = 6 context = 4 position = learned "
                        "layers { attention(heads = 2, rope = none) attention(heads = 2) } }");
    assert_false(m->blocks[0].subs[0].u.attn.rope);
    assert_false(m->blocks[1].subs[0].u.attn.rope);
    assert_int_equal(m->blocks[1].subs[0].u.attn.head_dim, 3);
    m = ok("model m { vocab = 4 dim = 8 context = 4 layers { attention(heads = 2, rope = 1e4) } }");
    assert_true(m->blocks[0].subs[0].u.attn.rope);
}

static void test_mod_values(void **state)
{
    (void)state;
    XfModelDesc *m = ok(with_model("  block d { ffn(hidden = 4) }\n"
                                   "  layers {\n"
                                   "    mod(capacity = 0.125) d\n"
                                   "    mod(capacity = 1, gate = sigmoid, decode_threshold = -0.25) d\n"
                                   "  }\n"));
    assert_int_equal(m->n_blocks, 2);
    const XfBlockInst *b = m->blocks;
    assert_true(b[0].mod);
    assert_int_equal(b[0].mod_capacity.num, 125);   /* exact: 125/1000 */
    assert_int_equal(b[0].mod_capacity.den, 1000);
    assert_false(b[0].mod_sigmoid);
    assert_true(b[0].mod_threshold == 0.0);
    assert_int_equal(b[0].mod_loc.line, 7);
    assert_int_equal(b[0].mod_loc.col, 5);
    assert_int_equal(b[0].loc.col, 27);             /* the block reference */
    assert_int_equal(b[1].mod_capacity.num, 1);
    assert_int_equal(b[1].mod_capacity.den, 1);
    assert_true(b[1].mod_sigmoid);
    assert_true(b[1].mod_threshold == -0.25);
}

/* ---- expansion ---------------------------------------------------------- */

static void test_spec_example_numbering(void **state)
{
    (void)state;
    XfModelDesc *m = ok(
        "model tiny_brain {\n"
        "  vocab = 512\n"
        "  dim = 256\n"
        "  context = 128\n"
        "  norm = rmsnorm(eps = 1e-5)\n"
        "  block brain {\n"
        "    attention(heads = 4, kv_heads = 2, rope = 10000)\n"
        "    moe(experts = 8, top_k = 2, hidden = 512, act = swiglu, capacity = 1.25)\n"
        "    ffn(hidden = 1024, act = gelu)\n"
        "    moe(experts = 8, top_k = 2, hidden = 512, act = swiglu)\n"
        "  }\n"
        "  block dense {\n"
        "    attention(heads = 4)\n"
        "    ffn(hidden = 1024, act = swiglu)\n"
        "  }\n"
        "  layers {\n"
        "    brain * 2\n"
        "    repeat 2 {\n"
        "      mod(capacity = 0.125) dense\n"
        "      dense\n"
        "    }\n"
        "    sparse_ffn(hidden = 2048, block = 32, lowrank = 64)\n"
        "  }\n"
        "}\n");
    static const char *const names[] = {"brain", "brain", "dense", "dense",
                                        "dense", "dense", "sparse_ffn"};
    static const int n_subs[] = {4, 4, 2, 2, 2, 2, 1};
    static const bool mod[] = {false, false, true, false, true, false, false};
    static const uint32_t line[] = {17, 17, 19, 20, 19, 20, 22};
    assert_int_equal(m->n_blocks, 7);
    for (int b = 0; b < 7; b++) {
        assert_string_equal(m->blocks[b].name, names[b]);
        assert_int_equal(m->blocks[b].n_subs, n_subs[b]);
        assert_int_equal(m->blocks[b].mod, mod[b]);
        assert_int_equal(m->blocks[b].loc.line, line[b]);
    }
    assert_int_equal(m->blocks[0].subs[1].u.moe.capacity.num, 125);   /* exact: 125/100 */
    assert_int_equal(m->blocks[0].subs[1].u.moe.capacity.den, 100);
    assert_int_equal(m->blocks[0].subs[0].loc.line, 7);
    assert_int_equal(m->blocks[6].subs[0].kind, XF_SUB_SPARSE_FFN);
    assert_int_equal(m->blocks[6].subs[0].loc.line, 22);
    assert_int_equal(m->blocks[6].subs[0].loc.col, 5);
}

static void test_nested_repeat_and_late_blocks(void **state)
{
    (void)state;
    /* blocks may be defined after use; repeat nests */
    XfModelDesc *m = ok("model m { vocab = 4 dim = 4 context = 4\n"
                        "  layers { repeat 2 { a repeat 3 { b } } ffn(hidden = 2) }\n"
                        "  block a { ffn(hidden = 1) }\n"
                        "  block b { ffn(hidden = 2) ffn(hidden = 3) }\n"
                        "}\n");
    static const char *const names = "abbbabbb";
    assert_int_equal(m->n_blocks, 9);
    for (int i = 0; i < 8; i++)
        assert_int_equal(m->blocks[i].name[0], names[i]);
    assert_string_equal(m->blocks[8].name, "ffn");
    assert_int_equal(m->blocks[3].n_subs, 2);
    assert_int_equal(m->blocks[3].subs[1].u.ffn.hidden, 3);
}

/* ---- errors, each at its token ------------------------------------------ */

static void test_setting_errors(void **state)
{
    (void)state;
    err_is("model m { dim = 4 context = 4 layers { ffn(hidden = 1) } }",
           "t.xf:1:7: error: model 'm' is missing required setting 'vocab'\n");
    err_is(with_model("  heads = 4\n  layers { ffn(hidden = 1) }\n"), "t.xf:5:3: error: unknown setting 'heads' (expected vocab, "
           "dim, context, norm, residual, position, tie_embeddings, final_norm, embed_norm or "
           "head)\n");
    err_is(with_model("  dim = 32\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:3: error: duplicate setting 'dim'\n"
           "      dim = 32\n"
           "      ^~~\n"
           "t.xf:3:3: note: 'dim' first set here\n");
    err_is("model m { vocab = 0 dim = 4 context = 4 layers { ffn(hidden = 1) } }",
           "t.xf:1:19: error: vocab must be a positive integer, got 0\n");
    err_is("model m { vocab = 4 dim = 4.0 context = 4 layers { ffn(hidden = 1) } }",
           "t.xf:1:27: error: dim must be a positive integer, got 4.0\n");
    err_is("model m { vocab = 4 dim = 4 context = 99999999999999999999 layers { ffn(hidden = 1) } }",
           "t.xf:1:39: error: context 99999999999999999999 does not fit in 64 bits\n");
    err_is(with_model("  residual = mid\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:14: error: unknown residual 'mid' (expected pre or post)\n");
    err_is(with_model("  position = alibi\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:14: error: unknown position 'alibi' (expected rope, learned or none)\n");
    err_is(with_model("  position = 3\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:14: error: position must be one of rope, learned or none, got 3\n");
    err_is(with_model("  tie_embeddings = yes\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:20: error: tie_embeddings must be true or false, got 'yes'\n");
    err_is(with_model("  norm = batchnorm\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:10: error: unknown norm 'batchnorm' (expected rmsnorm, layernorm or none)\n");
    err_is(with_model("  norm = rmsnorm(eps = 0)\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:24: error: eps must be a positive number, got 0\n");
    err_is(with_model("  norm = rmsnorm(eps = 1e999)\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:24: error: eps 1e999 is too large for fp32 (largest magnitude 3.40282347e+38)\n");
    err_is(with_model("  norm = none(eps = 1)\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:15: error: unknown parameter 'eps': none takes no parameters\n");
    err_is(with_model("  norm = layernorm(epsilon = 1)\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:20: error: unknown parameter 'epsilon' for layernorm (expected eps)\n");
    err_is(with_model("  norm = \"rms\"\n  layers { ffn(hidden = 1) }\n"),
           "t.xf:5:10: error: norm must be one of rmsnorm, layernorm or none, got the string \"rms\"\n");
    err_is("model int { vocab = 4 dim = 4 context = 4 layers { ffn(hidden = 1) } }",
           "t.xf:1:7: error: model name 'int' is a C keyword (the model name is the C type and API prefix of the generated code)\n");
    err_is("model m { vocab = 4 dim = 4 context = 4 }",
           "t.xf:1:7: error: model 'm' has no layers section\n");
    err_is(with_model("  layers { ffn(hidden = 1) }\n  layers { ffn(hidden = 2) }\n"),
           "t.xf:6:3: error: duplicate layers section\n");
}

static void test_parameter_errors(void **state)
{
    (void)state;
    err_is(with_model("  layers { attention(heads = 4, kv = 2) }\n"),
           "t.xf:5:33: error: unknown parameter 'kv' for attention (expected heads, kv_heads, "
           "head_dim, rope, bidirectional, window, bias or norm)\n");
    err_is(with_model("  layers { attention(kv_heads = 2) }\n"),
           "t.xf:5:12: error: attention is missing required parameter 'heads'\n");
    err_is(with_model("  layers { ffn(hidden = 4, hidden = 8) }\n"),
           "t.xf:5:28: error: duplicate parameter 'hidden'\n"
           "      layers { ffn(hidden = 4, hidden = 8) }\n"
           "                               ^~~~~~\n"
           "t.xf:5:16: note: 'hidden' first given here\n");
    err_is(with_model("  layers { attention(heads = 2.5) }\n"),
           "t.xf:5:30: error: heads must be a positive integer, got 2.5\n");
    err_is(with_model("  layers { attention(heads = four) }\n"),
           "t.xf:5:30: error: heads must be a positive integer, got 'four'\n");
    err_is(with_model("  layers { attention(heads = [4]) }\n"),
           "t.xf:5:30: error: heads must be a positive integer, got a list\n");
    err_is(with_model("  layers { attention(heads) }\n"),
           "t.xf:5:22: error: heads must be a positive integer, got a bare flag\n");
    err_is(with_model("  layers { attention(heads = -2) }\n"),
           "t.xf:5:30: error: heads must be a positive integer, got -2\n");
    err_is(with_model("  layers { attention(heads = 4, bias = 1) }\n"),
           "t.xf:5:40: error: bias must be true or false, got 1\n");
    err_is(with_model("  layers { ffn(hidden = 4, act = swish) }\n"),
           "t.xf:5:34: error: unknown activation 'swish' (expected relu, relu2, gelu, gelu_tanh, "
           "silu, swiglu or geglu)\n");
    err_is(with_model("  layers { ffn(hidden = 4, act = gelu(approx = true)) }\n"),
           "t.xf:5:34: error: act must be one of relu, relu2, gelu, gelu_tanh, silu, swiglu or "
           "geglu, got a call to 'gelu'\n");
    err_is(with_model("  layers { attention(heads = 4, window = 0) }\n"),
           "t.xf:5:42: error: window must be a positive integer, got 0\n");
    err_is(with_model("  layers { attention(heads = 4, window = full) }\n"),
           "t.xf:5:42: error: window must be a positive integer or none, got 'full'\n");
    err_is(with_model("  layers { attention(heads = 4, rope = -1) }\n"),
           "t.xf:5:40: error: rope must be a positive number or none, got -1\n");
    err_is(with_model("  layers { attention(heads = 4, rope = yes) }\n"),
           "t.xf:5:40: error: rope must be a positive number or none, got 'yes'\n");
    err_is(with_model("  layers { ffn(hidden = 4, norm = groupnorm(groups = 2)) }\n"),
           "t.xf:5:35: error: unknown norm 'groupnorm' (expected rmsnorm, layernorm or none)\n");
}

static void test_shape_errors(void **state)
{
    (void)state;
    err_is(with_model("  layers { attention(heads = 3) }\n"),
           "t.xf:5:30: error: heads 3 must divide dim 64 (or give head_dim)\n");
    err_is(with_model("  layers { attention(heads = 8, kv_heads = 3) }\n"),
           "t.xf:5:44: error: kv_heads 3 must divide heads 8\n");
    err_is(with_model("  layers { attention(heads = 4, head_dim = 7) }\n"),
           "t.xf:5:44: error: head_dim 7 must be even for RoPE\n");
    err_is("model m { vocab = 4 dim = 6 context = 4 layers { attention(heads = 2) } }",
           "t.xf:1:68: error: head_dim 3 (dim / heads) must be even for RoPE\n");
    err_is(with_model("  layers { sparse_ffn(hidden = 64, block = 5) }\n"),
           "t.xf:5:44: error: block 5 must divide hidden 64\n");
    err_is(with_model("  layers { moe(experts = 4, top_k = 5, hidden = 8) }\n"),
           "t.xf:5:37: error: top_k 5 is larger than experts 4\n");
    err_is(with_model("  layers { moe(experts = 4, top_k = 2, hidden = 8, capacity = -0.5) }\n"),
           "t.xf:5:63: error: moe capacity must not be negative, got -0.5\n");
    err_is(with_model("  layers { moe(experts = 4, top_k = 2, hidden = 8, capacity = 1e-40) }\n"),
           "t.xf:5:63: error: moe capacity 1e-40 has too many digits to be exact in 64 bits\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  layers { mod(capacity = 0) b }\n"),
           "t.xf:6:27: error: mod capacity must be in (0, 1], got 0\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  layers { mod(capacity = 1.5) b }\n"),
           "t.xf:6:27: error: mod capacity must be in (0, 1], got 1.5\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  layers { mod(gate = linear) b }\n"),
           "t.xf:6:12: error: mod is missing required parameter 'capacity'\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  layers { mod(capacity = 0.5, gate = tanh) b }\n"),
           "t.xf:6:39: error: unknown gate 'tanh' (expected linear or sigmoid)\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n"
                      "  layers { mod(capacity = 0.5, decode_threshold = high) b }\n"),
           "t.xf:6:51: error: decode_threshold must be a number, got 'high'\n");
    err_is("model m { vocab = 4 dim = 4 context = 4 position = learned "
           "layers { attention(heads = 2, rope = 10000) } }",
           "t.xf:1:97: error: rope = 10000 has no effect: the model's position is learned "
           "(remove it or write rope = none)\n");
    err_is("model m { vocab = 4 dim = 4 context = 4 position = none "
           "layers { attention(heads = 2, rope = 500) } }",
           "t.xf:1:94: error: rope = 500 has no effect: the model's position is none "
           "(remove it or write rope = none)\n");
}

static void test_size_overflow(void **state)
{
    (void)state;
    err_is("model m { vocab = 2000000000 dim = 2000000000 context = 4 layers { ffn(hidden = 1) } }",
           "t.xf:1:19: error: size vocab * dim overflows 64 bits (as fp32 bytes)\n");
    err_is(with_model("  layers { moe(experts = 1000000000, top_k = 1, hidden = 2000000000) }\n"),
           "t.xf:5:58: error: size experts * hidden * dim overflows 64 bits (as fp32 bytes)\n");
    err_is("model m { vocab = 4 dim = 2000000000 context = 4 layers { ffn(hidden = 2000000000) } }",
           "t.xf:1:72: error: size hidden * dim overflows 64 bits (as fp32 bytes)\n");
    err_is("model m { vocab = 4 dim = 2000000000 context = 4 layers { attention(heads = 2, "
           "head_dim = 1000000000) } }",
           "t.xf:1:91: error: size heads * head_dim * dim overflows 64 bits (as fp32 bytes)\n");
    err_is("model m { vocab = 4 dim = 2000000000 context = 4 layers { sparse_ffn(hidden = 64, "
           "block = 8, lowrank = 2000000000) } }",
           "t.xf:1:104: error: size lowrank * dim overflows 64 bits (as fp32 bytes)\n");
    err_is(with_model("  layers { moe(experts = 2, top_k = 1, hidden = 2, "
                      "capacity = 1000000000000000000) }\n"),
           "t.xf:5:63: error: capacity 1000000000000000000 is too large or too precise: "
           "ceil(capacity * context * top_k / experts) overflows 64 bits\n");
}

/* Values the generated C passes as int are refused above INT_MAX, at the
 * value, never truncated (window = 4294967297 used to become 1). */
static void test_c_int_range(void **state)
{
    (void)state;
    err_is(with_model("  layers { attention(heads = 4, window = 4294967297) }\n"),
           "t.xf:5:42: error: window 4294967297 is too large: the generated C passes it as an int "
           "(at most 2147483647)\n");
    err_is("model m { vocab = 2147483648 dim = 4 context = 4 layers { ffn(hidden = 1) } }",
           "t.xf:1:19: error: vocab 2147483648 is too large: the generated C passes it as an int "
           "(at most 2147483647)\n");
    err_is(with_model("  layers { ffn(hidden = 100000000000000000) }\n"),
           "t.xf:5:25: error: hidden 100000000000000000 is too large: the generated C passes it as "
           "an int (at most 2147483647)\n");
    err_is(with_model("  layers { attention(heads = 65536, head_dim = 65536) }\n"),
           "t.xf:5:48: error: heads 65536 * head_dim 65536 = 4294967296 is too large: the "
           "generated C passes it as an int (at most 2147483647)\n");
    err_is("model m { vocab = 4 dim = 4 context = 2000000000 layers { moe(experts = 4, top_k = 2, "
           "hidden = 1) } }",
           "t.xf:1:84: error: context 2000000000 * top_k 2 = 4000000000 expert assignments is too "
           "large: the generated C counts them in an int (at most 2147483647)\n");
    /* at the limit: accepted */
    const char *err;
    assert_non_null(check_src(with_model("  layers { attention(heads = 4, window = 2147483647) }\n"),
                              &err, NULL));
}

static void test_block_errors(void **state)
{
    (void)state;
    err_is(with_model("  layers { dense }\n"), "t.xf:5:12: error: undefined block 'dense'\n");
    err_is(with_model("  layers { ffn }\n"), "t.xf:5:12: error: undefined block 'ffn' (an inline "
           "sublayer needs its arguments: ffn(...))\n");
    err_is(with_model("  layers { mod(capacity = 0.5) ffn }\n"), "t.xf:5:32: error: undefined "
           "block 'ffn' (mod routes a block: define one that holds the sublayer)\n");
    err_is(with_model("  block unused { ffn(hidden = 1) }\n  layers { ffn(hidden = 2) }\n"),
           "t.xf:5:9: error: block 'unused' is never used in layers\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  block b { ffn(hidden = 2) }\n  layers { b }\n"),
           "t.xf:6:9: error: duplicate block 'b'\n"
           "      block b { ffn(hidden = 2) }\n"
           "            ^\n"
           "t.xf:5:9: note: 'b' first defined here\n");
    err_is(with_model("  block b { mlp(hidden = 1) }\n  layers { b }\n"),
           "t.xf:5:13: error: unknown sublayer 'mlp' (expected attention, ffn, moe or sparse_ffn)\n");
    err_has(with_model("  block b { ffn(hidden = 1) }\n  layers { b(hidden = 2) }\n"),
           "t.xf:6:12: error: unknown sublayer 'b' ('b' is a block: refer to it without arguments)\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  layers { b * 0 }\n"),
           "t.xf:6:16: error: instance count must be a positive integer, got 0\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  layers { repeat 1.5 { b } }\n"),
           "t.xf:6:19: error: repeat count must be a positive integer, got 1.5\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n  layers { repeat 1000 { b * 1000 } }\n"),
           "t.xf:6:3: error: layers expand to more than 65536 block instances\n");
    err_is(with_model("  block b { ffn(hidden = 1) }\n"
                      "  layers { repeat 99999999999 { repeat 99999999999 { b * 99999999999 } } }\n"),
           "t.xf:6:3: error: layers expand to more than 65536 block instances\n");
}

static void test_all_errors_reported_in_order(void **state)
{
    (void)state;
    const char *err;
    int n;
    /* the checks run settings first, but the messages come out in source order */
    assert_null(check_src("model m {\n"
                          "  block a { attention(heads = 3) }\n"
                          "  block unused { ffn(hidden = 0) }\n"
                          "  layers { a missing }\n"
                          "  vocab = 64 dim = 64 context = 16 color = red\n"
                          "}\n",
                          &err, &n));
    assert_int_equal(n, 5);
    const char *want[] = {"t.xf:2:31: error: heads 3 must divide dim 64",
                          "t.xf:3:9: error: block 'unused' is never used",
                          "t.xf:3:31: error: hidden must be a positive integer, got 0",
                          "t.xf:4:14: error: undefined block 'missing'",
                          "t.xf:5:36: error: unknown setting 'color'"};
    const char *p = err;
    for (int i = 0; i < 5; i++) {
        p = strstr(p, want[i]);
        if (!p)
            fail_msg("missing or out of order: %s\nin:\n%s", want[i], err);
    }
}

static void test_error_limit(void **state)
{
    (void)state;
    XfStrBuf sb = {0};
    xf_sb_puts(&sb, "model m { vocab = 4 dim = 4 context = 4\n  layers {\n");
    for (int i = 0; i < 30; i++)
        xf_sb_printf(&sb, "    b%d\n", i);
    xf_sb_puts(&sb, "  }\n}\n");
    const char *err;
    int n;
    assert_null(check_src(sb.data, &err, &n));
    xf_sb_free(&sb);
    assert_int_equal(n, 30);                       /* all counted ... */
    int printed = 0;
    for (const char *p = err; (p = strstr(p, ": error: ")); p++)
        printed++;
    assert_int_equal(printed, 20);                 /* ... 20 printed */
    assert_non_null(strstr(err, "t.xf: too many errors, stopping\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_defaults),
        cmocka_unit_test(test_model_settings),
        cmocka_unit_test(test_sublayer_defaults),
        cmocka_unit_test(test_sublayer_values),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_rope_and_position),
        cmocka_unit_test(test_mod_values),
        cmocka_unit_test(test_spec_example_numbering),
        cmocka_unit_test(test_nested_repeat_and_late_blocks),
        cmocka_unit_test(test_setting_errors),
        cmocka_unit_test(test_parameter_errors),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_size_overflow),
        cmocka_unit_test(test_c_int_range),
        cmocka_unit_test(test_block_errors),
        cmocka_unit_test(test_all_errors_reported_in_order),
        cmocka_unit_test(test_error_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
