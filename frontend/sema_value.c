/* sema_value.c - checking one parameter value, matching a call's arguments,
 * and the 64-bit size checks. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sema.h"

XfLoc fe_sema_value_loc(XfLoc nloc, const XfAstValue *v) { return v ? v->loc : nloc; }

static const char *describe(XfSema *s, const XfAstValue *v) { return fe_ast_value_describe(s->a, v); }

/* "a, b or c" */
static const char *join_names(XfSema *s, const char *const *names)
{
    XfStrBuf sb = {0};
    for (int i = 0; names[i]; i++) {
        if (i > 0)
            xf_sb_puts(&sb, names[i + 1] ? ", " : " or ");
        xf_sb_puts(&sb, names[i]);
    }
    const char *r = xf_arena_strdup(s->a, sb.data ? sb.data : "");
    xf_sb_free(&sb);
    return r;
}

static bool is_integer_text(const char *t)
{
    if (*t == '-')
        t++;
    if (!*t)
        return false;
    for (; *t; t++)
        if (*t < '0' || *t > '9')
            return false;
    return true;
}

bool fe_sema_get_int(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, int64_t *out)
{
    XfLoc loc = fe_sema_value_loc(nloc, v);
    if (!v || v->kind != XF_VAL_NUMBER || !is_integer_text(v->text)) {
        fe_sema_error(s, loc, "%s must be a positive integer, got %s", what, describe(s, v));
        return false;
    }
    errno = 0;
    long long x = strtoll(v->text, NULL, 10);
    if (errno == ERANGE && x > 0) {
        fe_sema_error(s, loc, "%s %s does not fit in 64 bits", what, describe(s, v));
        return false;
    }
    if (errno == ERANGE || x <= 0) {
        fe_sema_error(s, loc, "%s must be a positive integer, got %s", what, describe(s, v));
        return false;
    }
    *out = x;
    return true;
}

bool fe_sema_get_c_int(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, int64_t *out)
{
    int64_t x;
    if (!fe_sema_get_int(s, what, nloc, v, &x))
        return false;
    if (x > XF_C_INT_MAX) {
        fe_sema_error(s, v->loc, "%s %s is too large: the generated C passes it as an int (at "
                      "most %d)", what, describe(s, v), XF_C_INT_MAX);
        return false;
    }
    *out = x;
    return true;
}

bool fe_sema_get_bool(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, bool *out)
{
    if (!v) {
        *out = true;
        return true;
    }
    if (v->kind != XF_VAL_BOOL) {
        fe_sema_error(s, v->loc, "%s must be true or false, got %s", what, describe(s, v));
        return false;
    }
    (void)nloc;
    *out = v->b;
    return true;
}

bool fe_sema_get_number(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, double *out)
{
    if (!v || v->kind != XF_VAL_NUMBER) {
        fe_sema_error(s, fe_sema_value_loc(nloc, v), "%s must be a number, got %s", what,
                      describe(s, v));
        return false;
    }
    /* The model computes in fp32 (SPEC 3) and the C names these values as
     * float literals: refuse what fp32 cannot hold rather than emit an
     * infinity, a flushed subnormal or a literal the C compiler rejects. */
    double x = strtod(v->text, NULL), ax = fabs(x);
    if (!isfinite(x) || ax > FLT_MAX) {
        fe_sema_error(s, v->loc, "%s %s is too large for fp32 (largest magnitude %.9g)", what,
                      describe(s, v), (double)FLT_MAX);
        return false;
    }
    if (ax != 0 && ax < FLT_MIN) {
        fe_sema_error(s, v->loc, "%s %s is too small for fp32 (smallest normal magnitude %.9g, "
                      "or 0)", what, describe(s, v), (double)FLT_MIN);
        return false;
    }
    *out = x;
    return true;
}

bool fe_sema_get_ratio(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, XfRatio *out)
{
    if (!v || v->kind != XF_VAL_NUMBER) {
        fe_sema_error(s, fe_sema_value_loc(nloc, v), "%s must be a decimal number, got %s", what,
                      describe(s, v));
        return false;
    }
    if (v->text[0] == '-') {
        fe_sema_error(s, v->loc, "%s must not be negative, got %s", what, describe(s, v));
        return false;
    }
    if (!xf_ratio_parse(v->text, out)) {
        fe_sema_error(s, v->loc, "%s %s has too many digits to be exact in 64 bits", what,
                      describe(s, v));
        return false;
    }
    return true;
}

const char *fe_sema_value_name(const XfAstValue *v)
{
    if (v && v->kind == XF_VAL_NAME)
        return v->text;
    if (v && v->kind == XF_VAL_CALL && v->call->n_args == 0)
        return v->call->name;
    return NULL;
}

bool fe_sema_get_choice(XfSema *s, const char *what, const char *kind, XfLoc nloc,
                        const XfAstValue *v, const char *const *names, int *out)
{
    const char *name = fe_sema_value_name(v);
    if (!name) {
        fe_sema_error(s, fe_sema_value_loc(nloc, v), "%s must be one of %s, got %s", what,
                      join_names(s, names), describe(s, v));
        return false;
    }
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], name) == 0) {
            *out = i;
            return true;
        }
    }
    fe_sema_error(s, v->loc, "unknown %s '%s' (expected %s)", kind, name, join_names(s, names));
    return false;
}

bool fe_sema_get_norm(XfSema *s, XfLoc nloc, const XfAstValue *v, XfNormDesc *out)
{
    static const char *const names[] = {"rmsnorm", "layernorm", "none", NULL};
    static const XfParamSpec eps_spec[] = {{"eps", false}};
    const char *name = v && v->kind == XF_VAL_CALL ? v->call->name : fe_sema_value_name(v);
    if (!name) {
        fe_sema_error(s, fe_sema_value_loc(nloc, v), "norm must be one of %s, got %s",
                      join_names(s, names), describe(s, v));
        return false;
    }
    XfLoc name_loc = v->kind == XF_VAL_CALL ? v->call->loc : v->loc;
    XfNormDesc n = {.kind = XF_NORM_RMS, .eps = 1e-5};
    if (strcmp(name, "rmsnorm") == 0) {
        n.kind = XF_NORM_RMS;
    } else if (strcmp(name, "layernorm") == 0) {
        n.kind = XF_NORM_LAYER;
    } else if (strcmp(name, "none") == 0) {
        n.kind = XF_NORM_NONE;
    } else {
        fe_sema_error(s, name_loc, "unknown norm '%s' (expected %s)", name, join_names(s, names));
        return false;
    }
    if (v->kind != XF_VAL_CALL) {
        *out = n;
        return true;
    }
    const XfAstArg *eps = NULL;
    int n_spec = n.kind == XF_NORM_NONE ? 0 : 1;
    int before = (int)s->diags.len;
    fe_sema_match_args(s, name, v->call->loc, v->call->args, eps_spec, n_spec, &eps);
    if (eps && fe_sema_get_number(s, "eps", eps->loc, eps->value, &n.eps) && n.eps <= 0) {
        fe_sema_error(s, eps->value->loc, "eps must be a positive number, got %s",
                      describe(s, eps->value));
    }
    if ((int)s->diags.len != before)
        return false;
    *out = n;
    return true;
}

void fe_sema_match_args(XfSema *s, const char *what, XfLoc call_loc, const XfAstArg *args,
                        const XfParamSpec *spec, int n_spec, const XfAstArg **found)
{
    for (int i = 0; i < n_spec; i++)
        found[i] = NULL;
    for (const XfAstArg *arg = args; arg; arg = arg->next) {
        int i = 0;
        while (i < n_spec && strcmp(spec[i].name, arg->name) != 0)
            i++;
        if (i == n_spec) {
            if (n_spec == 0) {
                fe_sema_error(s, arg->loc, "unknown parameter '%s': %s takes no parameters",
                              arg->name, what);
                continue;
            }
            const char *names[32];
            for (int k = 0; k < n_spec && k < 31; k++)
                names[k] = spec[k].name;
            names[n_spec < 31 ? n_spec : 31] = NULL;
            fe_sema_error(s, arg->loc, "unknown parameter '%s' for %s (expected %s)", arg->name,
                          what, join_names(s, names));
        } else if (found[i]) {
            fe_sema_error(s, arg->loc, "duplicate parameter '%s'", arg->name);
            fe_sema_note(s, found[i]->loc, "'%s' first given here", arg->name);
        } else {
            found[i] = arg;
        }
    }
    for (int i = 0; i < n_spec; i++)
        if (spec[i].required && !found[i])
            fe_sema_error(s, call_loc, "%s is missing required parameter '%s'", what, spec[i].name);
}

int fe_sema_check_size(XfSema *s, XfLoc fallback, const XfFactor *f, int n)
{
    int64_t bytes = 4;
    bool overflow = false;
    for (int i = 0; i < n; i++) {
        XF_ASSERT(f[i].v > 0);
        overflow |= xf_mul_overflow(bytes, f[i].v, &bytes);
    }
    if (!overflow)
        return -1;
    int at = -1;
    for (int i = 0; i < n; i++)
        if (f[i].loc.line && (at < 0 || f[i].v > f[at].v))
            at = i;
    XfStrBuf sb = {0};
    for (int i = 0; i < n; i++)
        xf_sb_printf(&sb, "%s%s", i ? " * " : "", f[i].name);
    fe_sema_error(s, at >= 0 ? f[at].loc : fallback, "size %s overflows 64 bits (as fp32 bytes)",
                  sb.data);
    xf_sb_free(&sb);
    return at;
}
