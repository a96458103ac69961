/* sema.c - checking a parsed model and expanding its layers (SPEC 2, 4).
 *
 * On entry: an AST from fe_ast_parse.  On exit: an XfModelDesc with every
 * default applied and `layers` expanded so that blocks[b] is SPEC 4's block
 * instance b, or NULL after every error in the file was reported.
 *
 * Model settings are checked first (blocks may use dim, context, norm and
 * position whatever order they were written in), then each block definition
 * once, then `layers`; the errors are printed sorted by position. */
#include <stdlib.h>
#include <string.h>

#include "c_names.h"
#include "sema.h"

/* ---- the error queue ---------------------------------------------------- */

static const char *vformat(XfArena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *p = xf_arena_alloc(a, (size_t)(n > 0 ? n : 0) + 1);
    vsnprintf(p, (size_t)(n > 0 ? n : 0) + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void fe_sema_error(XfSema *s, XfLoc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    XfSemaDiag e = {.loc = loc, .msg = vformat(s->a, fmt, ap), .seq = (int)s->diags.len};
    va_end(ap);
    xf_vec_push(s->a, &s->diags, e);
}

void fe_sema_note(XfSema *s, XfLoc loc, const char *fmt, ...)
{
    XF_ASSERT(s->diags.len > 0);
    va_list ap;
    va_start(ap, fmt);
    XfSemaDiag *e = &s->diags.data[s->diags.len - 1];
    e->note = vformat(s->a, fmt, ap);
    e->note_loc = loc;
    va_end(ap);
}

static int diag_cmp(const void *pa, const void *pb)
{
    const XfSemaDiag *a = pa, *b = pb;
    if (a->loc.line != b->loc.line)
        return a->loc.line < b->loc.line ? -1 : 1;
    if (a->loc.col != b->loc.col)
        return a->loc.col < b->loc.col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void flush_diags(XfSema *s, XfDiag *d)
{
    qsort(s->diags.data, s->diags.len, sizeof *s->diags.data, diag_cmp);
    for (size_t i = 0; i < s->diags.len; i++) {
        const XfSemaDiag *e = &s->diags.data[i];
        xf_diag_error(d, e->loc, "%s", e->msg);
        if (e->note)
            xf_diag_note(d, e->note_loc, "%s", e->note);
    }
}

/* ---- model settings ----------------------------------------------------- */

enum { SET_VOCAB, SET_DIM, SET_CONTEXT, SET_NORM, SET_RESIDUAL, SET_POSITION, SET_TIE,
       SET_FINAL_NORM, SET_EMBED_NORM, SET_HEAD, SET_N };
static const char *const setting_names[SET_N + 1] = {
    "vocab", "dim", "context", "norm", "residual", "position", "tie_embeddings", "final_norm",
    "embed_norm", "head", NULL,
};

static void check_settings(XfSema *s, const XfAstModel *am, XfModelDesc *m)
{
    static const char *const residuals[] = {"pre", "post", NULL};
    static const char *const positions[] = {"rope", "learned", "none", NULL};
    static const XfPosition position_values[] = {XF_POS_ROPE, XF_POS_LEARNED, XF_POS_NONE};
    const XfAstSetting *set[SET_N] = {0};
    for (const XfAstSetting *st = am->settings; st; st = st->next) {
        int i = 0;
        while (i < SET_N && strcmp(setting_names[i], st->name) != 0)
            i++;
        if (i == SET_N) {
            fe_sema_error(s, st->loc, "unknown setting '%s' (expected vocab, dim, context, norm, "
                          "residual, position, tie_embeddings, final_norm, embed_norm or head)",
                          st->name);
        } else if (set[i]) {
            fe_sema_error(s, st->loc, "duplicate setting '%s'", st->name);
            fe_sema_note(s, set[i]->loc, "'%s' first set here", st->name);
        } else {
            set[i] = st;
        }
    }
    int64_t *sizes[3] = {&s->vocab, &s->dim, &s->context};
    for (int i = SET_VOCAB; i <= SET_CONTEXT; i++) {
        if (set[i])
            fe_sema_get_c_int(s, setting_names[i], set[i]->loc, set[i]->value, sizes[i]);
        else
            fe_sema_error(s, am->loc, "model '%s' is missing required setting '%s'", am->name,
                          setting_names[i]);
    }
    s->norm = (XfNormDesc){XF_NORM_RMS, 1e-5};
    if (set[SET_NORM])
        fe_sema_get_norm(s, set[SET_NORM]->loc, set[SET_NORM]->value, &s->norm);
    int choice = 0;
    if (set[SET_RESIDUAL] && fe_sema_get_choice(s, "residual", "residual", set[SET_RESIDUAL]->loc,
                                                set[SET_RESIDUAL]->value, residuals, &choice))
        m->residual_post = choice == 1;
    s->position = XF_POS_ROPE;
    if (set[SET_POSITION] && fe_sema_get_choice(s, "position", "position", set[SET_POSITION]->loc,
                                                set[SET_POSITION]->value, positions, &choice))
        s->position = position_values[choice];
    m->final_norm = true;
    if (set[SET_TIE])
        fe_sema_get_bool(s, "tie_embeddings", set[SET_TIE]->loc, set[SET_TIE]->value,
                         &m->tie_embeddings);
    if (set[SET_FINAL_NORM])
        fe_sema_get_bool(s, "final_norm", set[SET_FINAL_NORM]->loc, set[SET_FINAL_NORM]->value,
                         &m->final_norm);
    m->embed_norm = (XfNormDesc){XF_NORM_NONE, 1e-5};
    if (set[SET_EMBED_NORM]) {
        const XfAstValue *v = set[SET_EMBED_NORM]->value;
        if (v && v->kind != XF_VAL_CALL && !fe_sema_value_name(v))
            fe_sema_error(s, fe_sema_value_loc(set[SET_EMBED_NORM]->loc, v),
                          "embed_norm must be rmsnorm, layernorm or none");
        else
            fe_sema_get_norm(s, set[SET_EMBED_NORM]->loc, v, &m->embed_norm);
    }
    static const char *const heads[] = {"lm", "none", NULL};
    if (set[SET_HEAD] && fe_sema_get_choice(s, "head", "head", set[SET_HEAD]->loc,
                                            set[SET_HEAD]->value, heads, &choice))
        m->head_none = choice == 1;
    if (m->head_none && m->tie_embeddings)
        fe_sema_error(s, fe_sema_value_loc(set[SET_TIE]->loc, set[SET_TIE]->value),
                      "tie_embeddings = true needs head = lm (head = none has no lm_head to tie)");

    /* model-level sizes; the factor an overflow points at counts as invalid from here on */
    XfFactor f[3];
    for (int i = 0; i < 3; i++)
        f[i] = (XfFactor){setting_names[i], *sizes[i],
                          set[i] ? fe_sema_value_loc(set[i]->loc, set[i]->value) : (XfLoc){0}};
    static const int pairs[3][2] = {{SET_VOCAB, SET_DIM}, {SET_CONTEXT, SET_DIM},
                                    {SET_CONTEXT, SET_VOCAB}};
    for (int i = 0; i < 3; i++) {
        XfFactor pf[2] = {f[pairs[i][0]], f[pairs[i][1]]};
        if (pf[0].v <= 0 || pf[1].v <= 0)
            continue;
        int at = fe_sema_check_size(s, am->loc, pf, 2);
        if (at >= 0) {
            *sizes[pairs[i][at]] = 0;
            f[pairs[i][at]].v = 0;
        }
    }
    m->vocab = s->vocab;
    m->dim = s->dim;
    m->context = s->context;
    m->norm = s->norm;
    m->position = s->position;
}

/* ---- the model name ------------------------------------------------------ */

/* The names the generated header derives from the model name (SPEC 5). */
static const char *const api_suffixes[] = {
    "_VOCAB", "_DIM", "_CONTEXT", "_OUT", "_N_WEIGHTS", "_WEIGHTS", "_WEIGHT_BYTES",
    "_ARENA_BYTES", "_KV_BYTES",
    "_HAS_DECODE", "_ERR_ARG", "_ERR_TOKEN", "_ERR_FULL", "_ERR_NO_DECODE", "_open", "_close",
    "_forward", "_decode", "_reset", NULL,
};

static int c_name_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct xf_c_name *)elem)->name);
}

/* The header that declares `name` (see tools/c_names.sh), or NULL. */
static const char *c_name_header(const char *name)
{
    const void *hit = bsearch(name, xf_c_names, sizeof xf_c_names / sizeof xf_c_names[0],
                              sizeof xf_c_names[0], c_name_cmp);
    if (!hit)
        return NULL;
    return xf_c_name_headers[((const struct xf_c_name *)hit)->header];
}

/* The model's name is a C type (`typedef struct NAME NAME`) and the prefix of
 * every API name in the generated C, which includes the C library headers
 * listed in c_names.h.  What the generated code names itself is immune (it
 * uses the reserved prefix xf, and no function body uses NAME after
 * declaring a local); what cannot be made immune is refused here: C
 * keywords (C11 and C23), identifiers reserved to the implementation, the
 * prefix xf, main, and every name those headers declare, for NAME itself
 * and for each API name made from it. */
static void check_model_name(XfSema *s, const XfAstModel *am)
{
    static const char *const keywords[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
        "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
        "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
        "typedef", "union", "unsigned", "void", "volatile", "while",
        /* C23, and the C11 macros of <stdbool.h>, <stdalign.h>, <assert.h> ... */
        "alignas", "alignof", "bool", "constexpr", "false", "nullptr", "static_assert",
        "thread_local", "true", "typeof", "typeof_unqual", "noreturn", "complex", "imaginary",
        "asm", NULL,
    };
    const char *n = am->name;
    for (int i = 0; keywords[i]; i++)
        if (strcmp(n, keywords[i]) == 0) {
            fe_sema_error(s, am->loc, "model name '%s' is a C keyword (the model name is the C "
                          "type and API prefix of the generated code)", n);
            return;
        }
    if (n[0] == '_') {
        fe_sema_error(s, am->loc, "model name '%s' is reserved in C: names that begin with '_' "
                      "belong to the C implementation", n);
        return;
    }
    if ((n[0] == 'x' || n[0] == 'X') && (n[1] == 'f' || n[1] == 'F')) {
        fe_sema_error(s, am->loc, "model name '%s' begins with '%.2s': the generated C reserves "
                      "names beginning with xf, in any case, for its own identifiers", n, n);
        return;
    }
    if (strcmp(n, "main") == 0) {
        fe_sema_error(s, am->loc, "model name 'main' cannot name a C type: the program that "
                      "includes the generated header has a function main");
        return;
    }
    const char *h = c_name_header(n);
    if (h) {
        fe_sema_error(s, am->loc, "model name '%s' collides with '%s' from %s, which the "
                      "generated C includes", n, n, h);
        return;
    }
    XfStrBuf api = {0};
    for (int i = 0; api_suffixes[i]; i++) {
        api.len = 0;
        xf_sb_printf(&api, "%s%s", n, api_suffixes[i]);
        if ((h = c_name_header(api.data)) != NULL) {
            fe_sema_error(s, am->loc, "model name '%s' would make the API name '%s', which "
                          "collides with '%s' from %s (the generated C includes it)", n,
                          api.data, api.data, h);
            break;
        }
    }
    xf_sb_free(&api);
}

/* ---- blocks and layers -------------------------------------------------- */

static XfAstBlock *find_block(const XfAstModel *am, const char *name)
{
    for (XfAstBlock *b = am->blocks; b; b = b->next)
        if (strcmp(b->name, name) == 0)
            return b;
    return NULL;
}

static void check_call(XfSema *s, const XfAstModel *am, const XfAstCall *c, XfSublayerDesc *out,
                       bool *ok)
{
    if (fe_sema_sublayer_kind(c->name) < 0) {
        if (find_block(am, c->name))
            fe_sema_error(s, c->loc, "unknown sublayer '%s' ('%s' is a block: refer to it "
                          "without arguments)", c->name, c->name);
        else
            fe_sema_error(s, c->loc, "unknown sublayer '%s' (expected attention, ffn, moe or "
                          "sparse_ffn)", c->name);
        *ok = false;
        return;
    }
    if (!fe_sema_sublayer(s, c, out))
        *ok = false;
}

static void check_blocks(XfSema *s, const XfAstModel *am)
{
    for (XfAstBlock *b = am->blocks; b; b = b->next) {
        XfAstBlock *first = find_block(am, b->name);
        if (first != b) {
            b->duplicate = true;
            fe_sema_error(s, b->loc, "duplicate block '%s'", b->name);
            fe_sema_note(s, first->loc, "'%s' first defined here", b->name);
        }
        b->subs = xf_arena_alloc(s->a, sizeof(XfSublayerDesc) * (size_t)b->n_calls);
        b->ok = true;
        int i = 0;
        for (const XfAstCall *c = b->calls; c; c = c->next, i++)
            check_call(s, am, c, &b->subs[i], &b->ok);
    }
}

static void undefined_block(XfSema *s, const XfAstEntry *e)
{
    if (fe_sema_sublayer_kind(e->name) < 0)
        fe_sema_error(s, e->name_loc, "undefined block '%s'", e->name);
    else if (e->kind == XF_ENTRY_MOD)
        fe_sema_error(s, e->name_loc, "undefined block '%s' (mod routes a block: define one "
                      "that holds the sublayer)", e->name);
    else
        fe_sema_error(s, e->name_loc, "undefined block '%s' (an inline sublayer needs its "
                      "arguments: %s(...))", e->name, e->name);
}

/* Checks entries and returns how many instances they expand to, saturated
 * at XF_MAX_INSTANCES + 1. */
static int64_t check_entries(XfSema *s, const XfAstModel *am, XfAstEntry *e)
{
    int64_t total = 0;
    for (; e; e = e->next) {
        int64_t n = 1, inner = 1;
        switch (e->kind) {
        case XF_ENTRY_REF:
        case XF_ENTRY_MOD:
            e->block = find_block(am, e->name);
            if (e->block)
                e->block->used = true;
            else
                undefined_block(s, e);
            if (e->kind == XF_ENTRY_MOD)
                fe_sema_mod(s, e);
            if (e->count && !fe_sema_get_int(s, "instance count", e->count->loc, e->count, &n))
                n = 1;
            break;
        case XF_ENTRY_REPEAT:
            if (!fe_sema_get_int(s, "repeat count", e->count->loc, e->count, &n))
                n = 1;
            inner = check_entries(s, am, e->body);
            break;
        case XF_ENTRY_CALL: {
            bool ok = true;
            e->sub = xf_arena_alloc(s->a, sizeof *e->sub);
            check_call(s, am, e->call, e->sub, &ok);
            break;
        }
        }
        e->n = n;
        int64_t add;
        if (xf_mul_overflow(n, inner, &add) || add > XF_MAX_INSTANCES)
            add = XF_MAX_INSTANCES + 1;
        total += add;
        if (total > XF_MAX_INSTANCES)
            total = XF_MAX_INSTANCES + 1;
    }
    return total;
}

static void expand(const XfAstEntry *e, XfModelDesc *m)
{
    for (; e; e = e->next) {
        for (int64_t k = 0; k < e->n; k++) {
            if (e->kind == XF_ENTRY_REPEAT) {
                expand(e->body, m);
                continue;
            }
            XfBlockInst *bi = &m->blocks[m->n_blocks++];
            if (e->kind == XF_ENTRY_CALL) {
                bi->name = e->call->name;
                bi->loc = e->loc;
                bi->subs = e->sub;
                bi->n_subs = 1;
                continue;
            }
            bi->name = e->block->name;
            bi->loc = e->name_loc;
            bi->subs = e->block->subs;
            bi->n_subs = e->block->n_calls;
            if (e->kind == XF_ENTRY_MOD) {
                bi->mod = true;
                bi->mod_loc = e->loc;
                bi->mod_capacity = e->mod_capacity;
                bi->mod_sigmoid = e->mod_sigmoid;
                bi->mod_threshold = e->mod_threshold;
            }
        }
    }
}

XfModelDesc *fe_sema_check(XfArena *a, XfDiag *d, XfAstModel *am)
{
    XfSema s = {.a = a};
    XfModelDesc *m = xf_arena_alloc(a, sizeof *m);
    m->name = am->name;
    m->loc = am->loc;
    check_model_name(&s, am);
    check_settings(&s, am, m);
    check_blocks(&s, am);

    int64_t total = 0;
    for (const XfAstLayers *l = am->layers; l; l = l->next) {
        int64_t n = check_entries(&s, am, l->entries);
        if (l != am->layers) {
            fe_sema_error(&s, l->loc, "duplicate layers section");
            fe_sema_note(&s, am->layers->loc, "first layers section here");
            continue;
        }
        total = n;
        if (total > XF_MAX_INSTANCES)
            fe_sema_error(&s, l->loc, "layers expand to more than %d block instances",
                          XF_MAX_INSTANCES);
    }
    if (!am->layers)
        fe_sema_error(&s, am->loc, "model '%s' has no layers section", am->name);
    for (const XfAstBlock *b = am->blocks; b && am->layers; b = b->next)
        if (!b->used && !b->duplicate)
            fe_sema_error(&s, b->loc, "block '%s' is never used in layers", b->name);

    if (s.diags.len > 0) {
        flush_diags(&s, d);
        return NULL;
    }
    m->blocks = xf_arena_alloc(a, sizeof(XfBlockInst) * (size_t)total);
    expand(am->layers->entries, m);
    XF_ASSERT(m->n_blocks == total);
    return m;
}

XfModelDesc *fe_model_parse(XfArena *a, XfDiag *d, const char *src, size_t len)
{
    int before = d->n_errors;
    XfAstModel *am = fe_ast_parse(a, d, src, len);
    if (!am || d->n_errors != before)
        return NULL;
    return fe_sema_check(a, d, am);
}
