/* test_lexer.c - the .xf scanner (frontend/xf.l): token kinds, texts and
 * locations, and the error tokens it hands the parser instead of printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frontend/ast.h"
#include "xf_parser.h"
#include "xf_lexer.h"

typedef struct {
    int         kind;
    XfLoc       loc;
    const char *text;           /* NAME, NUMBER, STRING: the value; BAD: the message */
} Tok;

enum { MAX_TOKS = 64 };

/* Scans src (len bytes) to the end; returns the token count, EOF included. */
static int lex_n(XfArena *a, const char *src, size_t len, Tok *out)
{
    XfParser p = {.arena = a, .src = src, .len = len, .line = 1, .col = 1};
    yyscan_t scanner;
    assert_int_equal(yylex_init_extra(&p, &scanner), 0);
    YY_BUFFER_STATE buf = yy_scan_bytes(src, (int)len, scanner);
    int n = 0;
    for (;;) {
        YYSTYPE val = {0};
        XfLoc loc = {0};
        int kind = yylex(&val, &loc, scanner);
        bool has_text = kind == NAME || kind == NUMBER || kind == STRING || kind == BAD;
        out[n++] = (Tok){kind, loc, has_text ? val.str : NULL};
        if (kind == YYEOF || n == MAX_TOKS)
            break;
    }
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    return n;
}

static int lex(XfArena *a, const char *src, Tok *out) { return lex_n(a, src, strlen(src), out); }

static void assert_tok(const Tok *t, int kind, uint32_t line, uint32_t col, uint32_t len)
{
    assert_int_equal(t->kind, kind);
    assert_int_equal(t->loc.line, line);
    assert_int_equal(t->loc.col, col);
    assert_int_equal(t->loc.len, len);
}

static void test_keywords_and_names(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    int n = lex(a, "model block layers repeat mod true false models _x a1 Block", t);
    assert_int_equal(n, 12);
    int kinds[] = {MODEL, BLOCK, LAYERS, REPEAT, MOD, KW_TRUE, KW_FALSE, NAME, NAME, NAME, NAME};
    for (int i = 0; i < 11; i++)
        assert_int_equal(t[i].kind, kinds[i]);
    assert_string_equal(t[7].text, "models");
    assert_string_equal(t[8].text, "_x");
    assert_string_equal(t[9].text, "a1");
    assert_string_equal(t[10].text, "Block");
    assert_tok(&t[0], MODEL, 1, 1, 5);
    assert_tok(&t[7], NAME, 1, 42, 6);
    xf_arena_free(a);
}

static void test_numbers(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    const char *want[] = {"0", "42", "-7", "3.25", "1e-5", "-1.5E+3", "0.125", "007"};
    int n = lex(a, "0 42 -7 3.25 1e-5 -1.5E+3 0.125 007", t);
    assert_int_equal(n, 9);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(t[i].kind, NUMBER);
        assert_string_equal(t[i].text, want[i]);
    }
    assert_tok(&t[5], NUMBER, 1, 19, 7);
    xf_arena_free(a);
}

static void test_invalid_numbers(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    int n = lex(a, "1. 12abc 1.5.3 1e -x", t);
    assert_int_equal(n, 7);
    assert_tok(&t[0], BAD, 1, 1, 2);
    assert_string_equal(t[0].text, "invalid number '1.'");
    assert_string_equal(t[1].text, "invalid number '12abc'");
    assert_string_equal(t[2].text, "invalid number '1.5.3'");
    assert_string_equal(t[3].text, "invalid number '1e'");
    /* a lone minus is not a number */
    assert_tok(&t[4], BAD, 1, 19, 1);
    assert_string_equal(t[4].text, "unexpected character '-'");
    assert_tok(&t[5], NAME, 1, 20, 1);
    xf_arena_free(a);
}

static void test_strings(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    int n = lex(a, "\"hello world\" \"\" x", t);
    assert_int_equal(n, 4);
    assert_tok(&t[0], STRING, 1, 1, 13);
    assert_string_equal(t[0].text, "hello world");
    assert_tok(&t[1], STRING, 1, 15, 2);
    assert_string_equal(t[1].text, "");
    assert_tok(&t[2], NAME, 1, 18, 1);
    xf_arena_free(a);
}

static void test_unterminated_string(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    int n = lex(a, "x = \"abc\ny", t);
    assert_int_equal(n, 5);
    assert_tok(&t[2], BAD, 1, 5, 4);
    assert_string_equal(t[2].text, "unterminated string");
    assert_tok(&t[3], NAME, 2, 1, 1);
    /* at the end of the input too */
    n = lex(a, "\"abc", t);
    assert_int_equal(n, 2);
    assert_tok(&t[0], BAD, 1, 1, 4);
    xf_arena_free(a);
}

static void test_punctuation(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    const char *p = "{}()[]=*,;";
    int n = lex(a, "{ } ( ) [ ] = * , ;", t);
    assert_int_equal(n, 11);
    for (int i = 0; i < 10; i++)
        assert_tok(&t[i], p[i], 1, (uint32_t)(2 * i + 1), 1);
    assert_int_equal(t[10].kind, YYEOF);
    xf_arena_free(a);
}

static void test_comments_and_lines(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    int n = lex(a, "# a comment { not a token\n  x # trailing\n\ty\r\n\n   z=1#end", t);
    assert_int_equal(n, 6);
    assert_tok(&t[0], NAME, 2, 3, 1);
    assert_tok(&t[1], NAME, 3, 2, 1);       /* a tab is one byte */
    assert_tok(&t[2], NAME, 5, 4, 1);
    assert_tok(&t[3], '=', 5, 5, 1);
    assert_tok(&t[4], NUMBER, 5, 6, 1);
    xf_arena_free(a);
}

static void test_columns_count_bytes(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    int n = lex(a, "\"h\xc3\xa9llo\" x", t);   /* "héllo": 7 bytes between the quotes */
    assert_int_equal(n, 3);
    assert_tok(&t[0], STRING, 1, 1, 8);
    assert_tok(&t[1], NAME, 1, 10, 1);
    xf_arena_free(a);
}

static void test_bad_characters(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    int n = lex_n(a, "@ $\x01 \xe2 \0", 8, t);
    assert_int_equal(n, 6);
    assert_string_equal(t[0].text, "unexpected character '@'");
    assert_string_equal(t[1].text, "unexpected character '$'");
    assert_tok(&t[2], BAD, 1, 4, 1);
    assert_string_equal(t[2].text, "unexpected character '\\x01'");
    assert_string_equal(t[3].text, "unexpected character '\\xe2'");
    assert_string_equal(t[4].text, "unexpected character '\\x00'");
    assert_int_equal(t[5].kind, YYEOF);
    xf_arena_free(a);
}

static void test_eof_location(void **state)
{
    (void)state;
    XfArena *a = xf_arena_new();
    Tok t[MAX_TOKS];
    /* just after the last token, whatever whitespace follows */
    int n = lex(a, "model m\n  # done\n\n", t);
    assert_int_equal(n, 3);
    assert_tok(&t[2], YYEOF, 1, 8, 1);
    n = lex(a, "", t);
    assert_int_equal(n, 1);
    assert_tok(&t[0], YYEOF, 1, 1, 0);
    xf_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords_and_names),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_invalid_numbers),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_unterminated_string),
        cmocka_unit_test(test_punctuation),
        cmocka_unit_test(test_comments_and_lines),
        cmocka_unit_test(test_columns_count_bytes),
        cmocka_unit_test(test_bad_characters),
        cmocka_unit_test(test_eof_location),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
