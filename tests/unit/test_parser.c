/* test_parser.c - the .xf grammar (frontend/xf.y): every construct of SPEC 2
 * as an AST dump, locations, syntax error messages, every example, and no
 * crash on truncated, mutated or random input. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/ast.h"

/* Parses src; *err gets everything printed to the diagnostics stream. */
static XfAstModel *parse(XfArena *a, const char *src, const char **err)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    XfDiag d;
    xf_diag_init(&d, "t.xf", src, strlen(src), f);
    XfAstModel *m = fe_ast_parse(a, &d, src, strlen(src));
    fclose(f);
    *err = xf_arena_strdup(a, buf);
    free(buf);
    assert_true((m != NULL) == (d.n_errors == 0));
    return m;
}

static const char *dump(XfArena *a, const char *src)
{
    const char *err;
    XfAstModel *m = parse(a, src, &err);
    if (!m)
        fail_msg("unexpected syntax error:\n%s", err);
    XfStrBuf sb = {0};
    fe_ast_dump(m, &sb);
    const char *r = xf_arena_strdup(a, sb.data);
    xf_sb_free(&sb);
    return r;
}

static void test_minimal_model(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    assert_string_equal(dump(a, "model m {}"), "model m @1:7+1\n");
    assert_string_equal(dump(a, "\n  model  tiny_2\n{\n}\n"), "model tiny_2 @2:10+6\n");
    xf_arena_free(a);
}

static void test_setting_values(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    const char *src =
        "model m {\n"
        "  vocab = 512\n"
        "  eps = -1.5e-3\n"
        "  norm = rmsnorm(eps = 1e-5)\n"
        "  norm2 = rmsnorm\n"
        "  empty = f()\n"
        "  s = \"text\"\n"
        "  t = true  f = false\n"
        "  l = [1, 2.5 x [] g(a = [y])]\n"
        "  nested = a(b = c(d = e(), f))\n"
        "}\n";
    assert_string_equal(dump(a, src),
                        "model m @1:7+1\n"
                        "  setting vocab = 512 @2:3+5\n"
                        "  setting eps = -1.5e-3 @3:3+3\n"
                        "  setting norm = rmsnorm(eps = 1e-5) @4:3+4\n"
                        "  setting norm2 = rmsnorm @5:3+5\n"
                        "  setting empty = f() @6:3+5\n"
                        "  setting s = \"text\" @7:3+1\n"
                        "  setting t = true @8:3+1\n"
                        "  setting f = false @8:13+1\n"
                        "  setting l = [1, 2.5, x, [], g(a = [y])] @9:3+1\n"
                        "  setting nested = a(b = c(d = e(), f)) @10:3+6\n");
    xf_arena_free(a);
}

static void test_blocks_and_args(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    const char *src =
        "model m {\n"
        "  block b1 {\n"
        "    attention(heads = 4, bidirectional)\n"
        "    sparse_ffn(hidden = 64 block = 8; bias = false,)\n"
        "  }\n"
        "  block b2 { ffn(hidden = 4) moe() }\n"
        "  block b3 { f(model = 1, layers, repeat = 2, mod = 3) }\n"
        "}\n";
    assert_string_equal(dump(a, src),
                        "model m @1:7+1\n"
                        "  block b1 @2:9+2\n"
                        "    call attention(heads = 4, bidirectional) @3:5+9\n"
                        "    call sparse_ffn(hidden = 64, block = 8, bias = false) @4:5+10\n"
                        "  block b2 @6:9+2\n"
                        "    call ffn(hidden = 4) @6:14+3\n"
                        "    call moe() @6:30+3\n"
                        "  block b3 @7:9+2\n"
                        "    call f(model = 1, layers, repeat = 2, mod = 3) @7:14+1\n");
    xf_arena_free(a);
}

static void test_layers_entries(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    const char *src =
        "model m {\n"
        "  layers {\n"
        "    a\n"
        "    b * 3; c,\n"
        "    repeat 2 {\n"
        "      mod(capacity = 0.125) d\n"
        "      repeat 3 { e }\n"
        "    }\n"
        "    ffn(hidden = 8)\n"
        "    mod(capacity = 1, gate = sigmoid, decode_threshold = -0.5) a\n"
        "  }\n"
        "  layers { x }\n"
        "}\n";
    assert_string_equal(dump(a, src),
                        "model m @1:7+1\n"
                        "  layers @2:3+6\n"
                        "    ref a @3:5+1\n"
                        "    ref b * 3 @4:5+1\n"
                        "    ref c @4:12+1\n"
                        "    repeat 2 @5:5+6\n"
                        "      mod(capacity = 0.125) d @6:7+3\n"
                        "      repeat 3 @7:7+6\n"
                        "        ref e @7:18+1\n"
                        "    call ffn(hidden = 8) @9:5+3\n"
                        "    mod(capacity = 1, gate = sigmoid, decode_threshold = -0.5) a @10:5+3\n"
                        "  layers @12:3+6\n"
                        "    ref x @12:12+1\n");
    xf_arena_free(a);
}

static void test_mixed_items_in_order(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    /* settings, blocks and layers in any order; each kind keeps its own order */
    const char *src = "model m { layers { b } dim = 4; block b { ffn(hidden = 1) } vocab = 2 }";
    assert_string_equal(dump(a, src),
                        "model m @1:7+1\n"
                        "  setting dim = 4 @1:24+3\n"
                        "  setting vocab = 2 @1:61+5\n"
                        "  block b @1:39+1\n"
                        "    call ffn(hidden = 1) @1:43+3\n"
                        "  layers @1:11+6\n"
                        "    ref b @1:20+1\n");
    xf_arena_free(a);
}

static void test_value_locations(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    const char *err;
    const char *src =
        "model m {\n"
        "  norm = rmsnorm(eps = 1e-5)\n"
        "  l = [1, 2]\n"
        "  multi = f(a = 1,\n"
        "            b = 2)\n"
        "  block b { ffn(hidden = 4, act) }\n"
        "  layers { mod(capacity = 0.5) b }\n"
        "}\n";
    XfAstModel *m = parse(a, src, &err);
    assert_non_null(m);
    XfAstSetting *s = m->settings;
    /* a call value on one line is underlined whole; its call keeps its name */
    assert_int_equal(s->value->loc.line, 2);
    assert_int_equal(s->value->loc.col, 10);
    assert_int_equal(s->value->loc.len, 19);
    assert_int_equal(s->value->call->loc.len, 7);
    assert_int_equal(s->value->call->args->value->loc.col, 24);
    assert_int_equal(s->value->call->args->value->loc.len, 4);
    s = s->next;
    assert_int_equal(s->value->loc.col, 7);
    assert_int_equal(s->value->loc.len, 6);
    assert_int_equal(s->value->n_items, 2);
    s = s->next;                                /* over two lines: the first token */
    assert_int_equal(s->value->loc.line, 4);
    assert_int_equal(s->value->loc.col, 11);
    assert_int_equal(s->value->loc.len, 1);
    const XfAstArg *flag = m->blocks->calls->args->next;
    assert_string_equal(flag->name, "act");
    assert_null(flag->value);
    assert_int_equal(flag->loc.col, 29);
    const XfAstEntry *e = m->layers->entries;
    assert_int_equal(e->kind, XF_ENTRY_MOD);
    assert_int_equal(e->loc.col, 12);
    assert_int_equal(e->name_loc.col, 32);
    assert_int_equal(e->args->value->loc.col, 27);
    xf_arena_free(a);
}

/* ---- syntax errors ------------------------------------------------------ */

static void check_error(const char *src, const char *want)
{
    XfArena *a = xf_arena_new();
    const char *err;
    assert_null(parse(a, src, &err));
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("for %s\nwant: %s\ngot:  %s", src, want, err);
    xf_arena_free(a);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    check_error("", "t.xf:1:1: error: unexpected end of file, expected 'model'\n");
    check_error("modle m {}", "t.xf:1:1: error: unexpected name 'modle', expected 'model'\n");
    check_error("model { }", "t.xf:1:7: error: unexpected '{', expected name\n");
    check_error("model m { vocab = 1 ",
                "t.xf:1:20: error: unexpected end of file, expected 'block', 'layers', name or '}'\n"
                "    model m { vocab = 1 \n"
                "                       ^\n");
    check_error("model m {}}", "t.xf:1:11: error: unexpected '}', expected end of file\n");
    check_error("model m { vocab 3 }", "t.xf:1:17: error: unexpected number '3', expected '='\n");
    check_error("model m { x }", "t.xf:1:13: error: unexpected '}', expected '='\n");
    check_error("model m { block b { } }", "t.xf:1:21: error: unexpected '}', expected name\n");
    check_error("model m { block b { ffn } }", "t.xf:1:25: error: unexpected '}', expected '('\n");
    check_error("model m { layers { } }",
                "t.xf:1:20: error: unexpected '}', expected 'repeat', 'mod' or name\n");
    check_error("model m { layers { a * b } }",
                "t.xf:1:24: error: unexpected name 'b', expected number\n");
    check_error("model m { layers { repeat 2 a } }",
                "t.xf:1:29: error: unexpected name 'a', expected '{'\n");
    check_error("model m { layers { mod(capacity = 1) ffn(hidden = 1) } }",
                "t.xf:1:41: error: unexpected '(', expected 'repeat', 'mod', name or '}'\n");
    check_error("model m { x = f(a = ) }", "t.xf:1:21: error: unexpected ')', expected a value\n");
    check_error("model m { x = f(a = 1 }", "t.xf:1:23: error: unexpected '}', expected name or ')'\n");
    check_error("model m { x = [1, 2,, 3] }",
                "t.xf:1:21: error: unexpected ',', expected a value or ']'\n");
    check_error("model m { x = \"s\" \"t\" }",
                "t.xf:1:19: error: unexpected string \"t\", expected 'block', 'layers', name or '}'\n");
    check_error("model m { block = 3 }", "t.xf:1:17: error: unexpected '=', expected name\n");
    check_error("model m { x = 1 } model n { }",
                "t.xf:1:19: error: unexpected 'model', expected end of file\n");
    /* the scanner's error tokens */
    check_error("model m { x = @ }", "t.xf:1:15: error: unexpected character '@'\n");
    check_error("model m { x = \"abc\n}", "t.xf:1:15: error: unterminated string\n"
                                          "    model m { x = \"abc\n"
                                          "                  ^~~~\n");
    check_error("model m { x = 1.5.2 }", "t.xf:1:15: error: invalid number '1.5.2'\n");
}

static void test_nesting_limit(void **state)
{
    (void)state;
    enum { DEPTH = 20000 };
    char *src = malloc(2 * DEPTH + 64);
    strcpy(src, "model m { x = ");
    size_t n = strlen(src);
    memset(src + n, '[', DEPTH);
    memset(src + n + DEPTH, ']', DEPTH);
    strcpy(src + n + 2 * DEPTH, " }");
    XfArena *a = xf_arena_new();
    const char *err;
    assert_null(parse(a, src, &err));
    assert_non_null(strstr(err, "error: input nested too deeply"));
    xf_arena_free(a);
    free(src);
}

/* ---- the examples and robustness ---------------------------------------- */

typedef struct {
    char  *path[32];
    char  *src[32];
    size_t len[32];
    int    n;
} Examples;

static void examples_load(Examples *ex)
{
    memset(ex, 0, sizeof *ex);
    DIR *dir = opendir(XF_SOURCE_DIR "/examples");
    assert_non_null(dir);
    for (struct dirent *de; (de = readdir(dir)) && ex->n < 32;) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 3, ".xf") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/examples/%s", XF_SOURCE_DIR, de->d_name);
        ex->src[ex->n] = xf_read_file(path, &ex->len[ex->n]);
        assert_non_null(ex->src[ex->n]);
        ex->path[ex->n++] = strdup(de->d_name);
    }
    closedir(dir);
}

static void examples_free(Examples *ex)
{
    for (int i = 0; i < ex->n; i++)
        free(ex->path[i]), free(ex->src[i]);
}

static void test_examples_parse(void **state)
{
    (void)state;
    Examples ex;
    examples_load(&ex);
    assert_true(ex.n >= 6);
    for (int i = 0; i < ex.n; i++) {
        XfArena *a = xf_arena_new();
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        XfDiag d;
        xf_diag_init(&d, ex.path[i], ex.src[i], ex.len[i], f);
        XfModelDesc *m = fe_model_parse(a, &d, ex.src[i], ex.len[i]);
        fclose(f);
        if (!m)
            fail_msg("%s does not compile:\n%s", ex.path[i], buf);
        assert_int_equal(n, 0);
        /* small enough for the numeric tests */
        assert_true(m->vocab <= 512 && m->dim <= 128 && m->context <= 128);
        assert_true(m->n_blocks >= 1 && m->n_blocks <= 4);
        free(buf);
        xf_arena_free(a);
    }
    examples_free(&ex);
}

/* Parses and checks src; whatever happens, a model comes back iff no error was reported. */
static void parse_any(FILE *sink, const char *src, size_t len)
{
    XfArena *a = xf_arena_new();
    XfDiag d;
    xf_diag_init(&d, "fuzz.xf", src, len, sink);
    XfModelDesc *m = fe_model_parse(a, &d, src, len);
    assert_true((m != NULL) == (d.n_errors == 0));
    for (int b = 0; m && b < m->n_blocks; b++)
        assert_true(m->blocks[b].n_subs >= 1 && m->blocks[b].subs);
    xf_arena_free(a);
}

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

static void test_fuzz_no_crash(void **state)
{
    (void)state;
    static const char alphabet[] = "{}()[]=*,;#\"-.0123456789eE abxyz_\n\t\x01\xff";
    static const char *const words[] = {
        "model", "block", "layers", "repeat", "mod", "true", "false", "m", "b", "{", "}", "(",
        ")", "[", "]", "=", "*", ",", ";", "1", "0", "-3", "0.5", "1e-5", "\"s\"", "heads",
        "dim", "vocab", "context", "attention", "ffn", "moe", "sparse_ffn", "hidden", "capacity",
        "norm", "rmsnorm", "none", "#c\n", "\n", "@", "99999999999999999999",
        "attention(heads = 4)", "ffn(hidden = 8)", "} layers { b ", "mod(capacity = 0.5) b",
        "top_k", "experts", "kv_heads", "head_dim", "block", "lowrank", "act", "swiglu", "}",
        "moe(experts = 2, top_k = 1, hidden = 4)", "repeat 2 {", "b * 3", "position = learned",
    };
    FILE *sink = fopen("/dev/null", "w");
    assert_non_null(sink);
    uint64_t seed = 12345;
    Examples ex;
    examples_load(&ex);
    char *buf = malloc(1 << 16);
    for (int i = 0; i < ex.n; i++) {
        const char *src = ex.src[i];
        size_t len = ex.len[i];
        assert_true(len < (1 << 15));
        for (size_t cut = 0; cut <= len; cut++)        /* every truncation */
            parse_any(sink, src, cut);
        for (int k = 0; k < 3000; k++) {               /* mutations */
            memcpy(buf, src, len);
            size_t n = len;
            for (int edits = 1 + (int)(rng_next(&seed) % 4); edits > 0; edits--) {
                size_t at = rng_next(&seed) % n;
                switch (rng_next(&seed) % 3) {
                case 0:
                    buf[at] = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
                    break;
                case 1: {                               /* delete a span */
                    size_t span = 1 + rng_next(&seed) % 16;
                    span = span > n - at ? n - at : span;
                    memmove(buf + at, buf + at + span, n - at - span);
                    n -= span;
                    break;
                }
                default: {                              /* duplicate a span */
                    size_t span = 1 + rng_next(&seed) % 32;
                    span = span > n - at ? n - at : span;
                    memmove(buf + at + span, buf + at, n - at);
                    n += span;
                    break;
                }
                }
                if (n == 0)
                    break;
            }
            parse_any(sink, buf, n);
        }
    }
    for (int k = 0; k < 6000; k++) {                   /* token soup, half in a valid model */
        size_t n = 0;
        if (k % 2)
            n += (size_t)sprintf(buf, "model m { vocab = 64 dim = 64 context = 16 block b { ");
        for (int t = (int)(rng_next(&seed) % 60); t > 0; t--) {
            const char *w = words[rng_next(&seed) % (sizeof words / sizeof *words)];
            n += (size_t)sprintf(buf + n, "%s ", w);
        }
        parse_any(sink, buf, n);
    }
    free(buf);
    examples_free(&ex);
    fclose(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_model),
        cmocka_unit_test(test_setting_values),
        cmocka_unit_test(test_blocks_and_args),
        cmocka_unit_test(test_layers_entries),
        cmocka_unit_test(test_mixed_items_in_order),
        cmocka_unit_test(test_value_locations),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_examples_parse),
        cmocka_unit_test(test_fuzz_no_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
