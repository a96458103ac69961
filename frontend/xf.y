/* xf.y - the .xf grammar (SPEC 2).  Builds the AST of ast.h in the arena.
 *
 * Semantic values are arena pointers, so nothing needs a %destructor.  The
 * parser stops at the first syntax error: it is reported at the first token
 * that cannot continue the input, with the tokens that could have (LAC makes
 * that list exact).  Separators `,` and `;` may follow any item of a list. */
%define api.pure full
%define api.location.type {XfLoc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0

%code requires {
#include "frontend/ast.h"
typedef void *yyscan_t;

typedef struct { XfAstArg *head, *tail; int n; } XfArgList;
typedef struct { XfAstValue *head, *tail; int n; } XfValueList;
typedef struct { XfAstCall *head, *tail; int n; } XfCallList;
typedef struct { XfAstEntry *head, *tail; int n; } XfEntryList;

/* A rule's location spans its tokens when they share a line (a value's
 * underline covers all of `rmsnorm(eps = 1e-5)`), else it is the first one. */
#define YYLLOC_DEFAULT(cur, rhs, n)                                                \
    do {                                                                           \
        if (n) {                                                                   \
            XfLoc f_ = YYRHSLOC(rhs, 1), l_ = YYRHSLOC(rhs, n);                    \
            if (l_.line == f_.line && l_.col + l_.len > f_.col + f_.len)           \
                f_.len = l_.col + l_.len - f_.col;                                 \
            (cur) = f_;                                                            \
        } else {                                                                   \
            (cur) = YYRHSLOC(rhs, 0);                                              \
            (cur).col += (cur).len;                                                \
            (cur).len = 0;                                                         \
        }                                                                          \
    } while (0)
}

%param {yyscan_t scanner}
%parse-param {XfParser *p}

%code {
#include <string.h>

int yylex(YYSTYPE *yylval_param, XfLoc *yylloc_param, yyscan_t yyscanner);
static void yyerror(XfLoc *loc, yyscan_t scanner, XfParser *p, const char *msg);

#define NEW(T) ((T *)xf_arena_alloc(p->arena, sizeof(T)))
#define APPEND(list, x)                   \
    do {                                  \
        if ((list).tail)                  \
            (list).tail->next = (x);      \
        else                              \
            (list).head = (x);            \
        (list).tail = (x);                \
        (list).n++;                       \
    } while (0)
}

%initial-action { @$ = (XfLoc){1, 1, 0}; }

%union {
    const char  *str;
    XfAstValue  *value;
    XfAstArg    *arg;
    XfAstCall   *call;
    XfAstEntry  *entry;
    XfArgList    args;
    XfValueList  values;
    XfCallList   calls;
    XfEntryList  entries;
}

%token MODEL "'model'" BLOCK "'block'" LAYERS "'layers'" REPEAT "'repeat'" MOD "'mod'"
%token KW_TRUE "'true'" KW_FALSE "'false'"
%token <str> NAME "name" NUMBER "number" STRING "string"
%token <str> BAD "invalid token"

%type <str>     argname
%type <value>   value count
%type <arg>     arg
%type <call>    call
%type <entry>   entry
%type <args>    args
%type <values>  values
%type <calls>   calls
%type <entries> entries

%%

file
    : MODEL NAME
        {
            p->model = NEW(XfAstModel);
            p->model->name = $2;
            p->model->loc = @2;
        }
      '{' model_items '}'
    ;

model_items
    : %empty
    | model_items model_item opt_sep
    ;

model_item
    : NAME '=' value
        {
            XfAstSetting *s = NEW(XfAstSetting);
            s->name = $1;
            s->loc = @1;
            s->value = $3;
            fe_ast_model_add_setting(p->model, s);
        }
    | BLOCK NAME '{' calls '}'
        {
            XfAstBlock *b = NEW(XfAstBlock);
            b->name = $2;
            b->loc = @2;
            b->calls = $4.head;
            b->n_calls = $4.n;
            fe_ast_model_add_block(p->model, b);
        }
    | LAYERS '{' entries '}'
        {
            XfAstLayers *l = NEW(XfAstLayers);
            l->loc = @1;
            l->entries = $3.head;
            fe_ast_model_add_layers(p->model, l);
        }
    ;

calls
    : call opt_sep              { $$ = (XfCallList){0}; APPEND($$, $1); }
    | calls call opt_sep        { $$ = $1; APPEND($$, $2); }
    ;

call
    : NAME '(' args ')'
        {
            $$ = NEW(XfAstCall);
            $$->name = $1;
            $$->loc = @1;
            $$->args = $3.head;
            $$->n_args = $3.n;
        }
    ;

args
    : %empty                    { $$ = (XfArgList){0}; }
    | args arg opt_sep          { $$ = $1; APPEND($$, $2); }
    ;

arg
    : argname '=' value
        {
            $$ = NEW(XfAstArg);
            $$->name = $1;
            $$->loc = @1;
            $$->value = $3;
        }
    | argname
        {
            $$ = NEW(XfAstArg);
            $$->name = $1;
            $$->loc = @1;
        }
    ;

/* keywords are fine as parameter names: sparse_ffn(block = 32) */
argname
    : NAME
    | BLOCK                     { $$ = "block"; }
    | LAYERS                    { $$ = "layers"; }
    | MODEL                     { $$ = "model"; }
    | REPEAT                    { $$ = "repeat"; }
    | MOD                       { $$ = "mod"; }
    ;

entries
    : entry opt_sep             { $$ = (XfEntryList){0}; APPEND($$, $1); }
    | entries entry opt_sep     { $$ = $1; APPEND($$, $2); }
    ;

entry
    : NAME
        {
            $$ = NEW(XfAstEntry);
            $$->kind = XF_ENTRY_REF;
            $$->loc = $$->name_loc = @1;
            $$->name = $1;
        }
    | NAME '*' count
        {
            $$ = NEW(XfAstEntry);
            $$->kind = XF_ENTRY_REF;
            $$->loc = $$->name_loc = @1;
            $$->name = $1;
            $$->count = $3;
        }
    | REPEAT count '{' entries '}'
        {
            $$ = NEW(XfAstEntry);
            $$->kind = XF_ENTRY_REPEAT;
            $$->loc = @1;
            $$->count = $2;
            $$->body = $4.head;
        }
    | MOD '(' args ')' NAME
        {
            $$ = NEW(XfAstEntry);
            $$->kind = XF_ENTRY_MOD;
            $$->loc = @1;
            $$->args = $3.head;
            $$->n_args = $3.n;
            $$->name = $5;
            $$->name_loc = @5;
        }
    | call
        {
            $$ = NEW(XfAstEntry);
            $$->kind = XF_ENTRY_CALL;
            $$->loc = $1->loc;
            $$->call = $1;
        }
    ;

count
    : NUMBER                    { $$ = fe_ast_value_new(p->arena, XF_VAL_NUMBER, @1, $1); }
    ;

value
    : NUMBER                    { $$ = fe_ast_value_new(p->arena, XF_VAL_NUMBER, @1, $1); }
    | NAME                      { $$ = fe_ast_value_new(p->arena, XF_VAL_NAME, @1, $1); }
    | STRING                    { $$ = fe_ast_value_new(p->arena, XF_VAL_STRING, @1, $1); }
    | KW_TRUE                   { $$ = fe_ast_value_new(p->arena, XF_VAL_BOOL, @1, "true"); $$->b = true; }
    | KW_FALSE                  { $$ = fe_ast_value_new(p->arena, XF_VAL_BOOL, @1, "false"); }
    | call
        {
            $$ = fe_ast_value_new(p->arena, XF_VAL_CALL, @1, $1->name);
            $$->call = $1;
        }
    | '[' values ']'
        {
            $$ = fe_ast_value_new(p->arena, XF_VAL_LIST, @$, NULL);
            $$->items = $2.head;
            $$->n_items = $2.n;
        }
    ;

values
    : %empty                    { $$ = (XfValueList){0}; }
    | values value opt_sep      { $$ = $1; APPEND($$, $2); }
    ;

opt_sep
    : %empty
    | ','
    | ';'
    ;

%%

/* How a token reads in a message: "'}'", "name 'foo'", "end of file". */
static const char *token_text(XfParser *p, yysymbol_kind_t k, bool with_text)
{
    const char *name = yysymbol_name(k);
    size_t n = strlen(name);
    if (name[0] == '"' && n >= 2)       /* an alias: "name", "'model'" */
        name = xf_arena_strndup(p->arena, name + 1, n - 2);
    if (k == YYSYMBOL_YYEOF)
        return "end of file";
    if (with_text && (k == YYSYMBOL_NAME || k == YYSYMBOL_NUMBER || k == YYSYMBOL_STRING)) {
        int len = p->tok_len > 32 ? 32 : (int)p->tok_len;
        const char *dots = p->tok_len > 32 ? "..." : "";
        if (k == YYSYMBOL_STRING)
            return xf_arena_printf(p->arena, "string %.*s%s", len, p->src + p->tok_off, dots);
        return xf_arena_printf(p->arena, "%s '%.*s%s'", name, len, p->src + p->tok_off, dots);
    }
    return name;
}

static bool starts_value(yysymbol_kind_t k)
{
    return k == YYSYMBOL_NUMBER || k == YYSYMBOL_NAME || k == YYSYMBOL_STRING ||
           k == YYSYMBOL_KW_TRUE || k == YYSYMBOL_KW_FALSE || strcmp(yysymbol_name(k), "'['") == 0;
}

static bool is_argname_keyword(yysymbol_kind_t k)
{
    return k == YYSYMBOL_BLOCK || k == YYSYMBOL_LAYERS || k == YYSYMBOL_MODEL ||
           k == YYSYMBOL_REPEAT || k == YYSYMBOL_MOD;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, XfParser *p)
{
    (void)scanner;
    XfLoc loc = *yypcontext_location(ctx);
    yysymbol_kind_t got = yypcontext_token(ctx);
    if (got == YYSYMBOL_BAD) {
        xf_diag_error(p->diag, loc, "%s", p->bad_msg);
        return 0;
    }
    /* The optional separators are never worth listing, and the six tokens a
     * value starts with read better as "a value". */
    enum { MAX_LISTED = 5, N_VALUE_START = 6 };
    yysymbol_kind_t all[YYNTOKENS];
    int n_all = yypcontext_expected_tokens(ctx, all, YYNTOKENS);
    bool is_value[YYNTOKENS] = {false};
    int n_value = 0;
    for (int i = 0; i < n_all; i++)
        if (starts_value(all[i]))
            is_value[i] = true, n_value++;
    bool group = n_value == N_VALUE_START;
    /* where a parameter name may come, the keywords accepted as names are noise */
    int n_kw = 0;
    for (int i = 0; i < n_all; i++)
        n_kw += is_argname_keyword(all[i]);
    bool names_only = n_kw == 5;

    const char *want[YYNTOKENS];
    int n = 0;
    if (group)
        want[n++] = "a value";
    for (int i = 0; i < n_all; i++) {
        const char *t = yysymbol_name(all[i]);
        if (strcmp(t, "','") == 0 || strcmp(t, "';'") == 0 || (group && is_value[i]) ||
            (names_only && is_argname_keyword(all[i])))
            continue;
        want[n++] = token_text(p, all[i], false);
    }
    XfStrBuf sb = {0};
    xf_sb_printf(&sb, "unexpected %s", token_text(p, got, true));
    if (n > 0 && n <= MAX_LISTED) {
        xf_sb_puts(&sb, ", expected ");
        for (int i = 0; i < n; i++) {
            if (i > 0)
                xf_sb_puts(&sb, i == n - 1 ? " or " : ", ");
            xf_sb_puts(&sb, want[i]);
        }
    }
    xf_diag_error(p->diag, loc, "%s", sb.data);
    xf_sb_free(&sb);
    return 0;
}

/* Only reached for "memory exhausted": input nested too deeply. */
static void yyerror(XfLoc *loc, yyscan_t scanner, XfParser *p, const char *msg)
{
    (void)scanner;
    if (strcmp(msg, "memory exhausted") == 0)
        msg = "input nested too deeply";
    xf_diag_error(p->diag, *loc, "%s", msg);
}
