/* ast.c - constructing, printing and describing syntax tree nodes. */
#include <string.h>

#include "ast.h"

XfAstValue *fe_ast_value_new(XfArena *a, XfValKind kind, XfLoc loc, const char *text)
{
    XfAstValue *v = xf_arena_alloc(a, sizeof *v);
    v->kind = kind;
    v->loc = loc;
    v->text = text;
    return v;
}

void fe_ast_model_add_setting(XfAstModel *m, XfAstSetting *s)
{
    if (m->last_setting)
        m->last_setting->next = s;
    else
        m->settings = s;
    m->last_setting = s;
}

void fe_ast_model_add_block(XfAstModel *m, XfAstBlock *b)
{
    if (m->last_block)
        m->last_block->next = b;
    else
        m->blocks = b;
    m->last_block = b;
}

void fe_ast_model_add_layers(XfAstModel *m, XfAstLayers *l)
{
    if (m->last_layers)
        m->last_layers->next = l;
    else
        m->layers = l;
    m->last_layers = l;
}

/* ---- dump --------------------------------------------------------------- */

static void dump_value(const XfAstValue *v, XfStrBuf *out);

static void dump_args(const XfAstArg *arg, XfStrBuf *out)
{
    xf_sb_puts(out, "(");
    for (; arg; arg = arg->next) {
        xf_sb_puts(out, arg->name);
        if (arg->value) {
            xf_sb_puts(out, " = ");
            dump_value(arg->value, out);
        }
        if (arg->next)
            xf_sb_puts(out, ", ");
    }
    xf_sb_puts(out, ")");
}

static void dump_call(const XfAstCall *c, XfStrBuf *out)
{
    xf_sb_puts(out, c->name);
    dump_args(c->args, out);
}

static void dump_value(const XfAstValue *v, XfStrBuf *out)
{
    switch (v->kind) {
    case XF_VAL_NUMBER:
    case XF_VAL_NAME:
        xf_sb_puts(out, v->text);
        break;
    case XF_VAL_STRING:
        xf_sb_printf(out, "\"%s\"", v->text);
        break;
    case XF_VAL_BOOL:
        xf_sb_puts(out, v->b ? "true" : "false");
        break;
    case XF_VAL_CALL:
        dump_call(v->call, out);
        break;
    case XF_VAL_LIST:
        xf_sb_puts(out, "[");
        for (const XfAstValue *it = v->items; it; it = it->next)
            dump_value(it, out), xf_sb_puts(out, it->next ? ", " : "");
        xf_sb_puts(out, "]");
        break;
    }
}

static void dump_loc(XfLoc loc, XfStrBuf *out)
{
    xf_sb_printf(out, " @%u:%u+%u\n", loc.line, loc.col, loc.len);
}

static void dump_entries(const XfAstEntry *e, int depth, XfStrBuf *out)
{
    for (; e; e = e->next) {
        xf_sb_printf(out, "%*s", 2 * depth, "");
        switch (e->kind) {
        case XF_ENTRY_REF:
            xf_sb_printf(out, "ref %s", e->name);
            if (e->count)
                xf_sb_printf(out, " * %s", e->count->text);
            dump_loc(e->loc, out);
            break;
        case XF_ENTRY_REPEAT:
            xf_sb_printf(out, "repeat %s", e->count->text);
            dump_loc(e->loc, out);
            dump_entries(e->body, depth + 1, out);
            break;
        case XF_ENTRY_MOD:
            xf_sb_puts(out, "mod");
            dump_args(e->args, out);
            xf_sb_printf(out, " %s", e->name);
            dump_loc(e->loc, out);
            break;
        case XF_ENTRY_CALL:
            xf_sb_puts(out, "call ");
            dump_call(e->call, out);
            dump_loc(e->loc, out);
            break;
        }
    }
}

void fe_ast_dump(const XfAstModel *m, XfStrBuf *out)
{
    xf_sb_printf(out, "model %s", m->name);
    dump_loc(m->loc, out);
    for (const XfAstSetting *s = m->settings; s; s = s->next) {
        xf_sb_printf(out, "  setting %s = ", s->name);
        dump_value(s->value, out);
        dump_loc(s->loc, out);
    }
    for (const XfAstBlock *b = m->blocks; b; b = b->next) {
        xf_sb_printf(out, "  block %s", b->name);
        dump_loc(b->loc, out);
        for (const XfAstCall *c = b->calls; c; c = c->next) {
            xf_sb_puts(out, "    call ");
            dump_call(c, out);
            dump_loc(c->loc, out);
        }
    }
    for (const XfAstLayers *l = m->layers; l; l = l->next) {
        xf_sb_puts(out, "  layers");
        dump_loc(l->loc, out);
        dump_entries(l->entries, 2, out);
    }
}

/* ---- describe ----------------------------------------------------------- */

/* Long user text is cut so that one message stays on one screen line. */
static const char *clip(XfArena *a, const char *s)
{
    enum { MAX = 32 };
    if (strlen(s) <= MAX)
        return s;
    return xf_arena_printf(a, "%.*s...", MAX, s);
}

const char *fe_ast_value_describe(XfArena *a, const XfAstValue *v)
{
    if (!v)
        return "a bare flag";
    switch (v->kind) {
    case XF_VAL_NUMBER:
        return clip(a, v->text);
    case XF_VAL_NAME:
        return xf_arena_printf(a, "'%s'", clip(a, v->text));
    case XF_VAL_STRING:
        return xf_arena_printf(a, "the string \"%s\"", clip(a, v->text));
    case XF_VAL_BOOL:
        return v->b ? "true" : "false";
    case XF_VAL_CALL:
        return xf_arena_printf(a, "a call to '%s'", clip(a, v->call->name));
    case XF_VAL_LIST:
        return "a list";
    }
    xf_unreachable();
}
