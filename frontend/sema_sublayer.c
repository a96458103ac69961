/* sema_sublayer.c - the parameters of attention, ffn, moe, sparse_ffn and
 * mod(...): types, ranges, divisibility, SPEC 2's defaults, and the sizes
 * each one adds to the model (checked against 64-bit overflow).
 *
 * Where an error points (docs/language.md has the full table): a value error
 * at that value; `dim % heads` at heads; `heads % kv_heads` at kv_heads;
 * `hidden % block` at block; `top_k > experts` at top_k; an odd head_dim at
 * head_dim, or at heads when head_dim is derived from it. */
#include <string.h>

#include "sema.h"

static const char *const sub_names[] = {"attention", "ffn", "moe", "sparse_ffn", NULL};
static const char *const act_names[] = {"relu", "relu2", "gelu", "gelu_tanh",
                                        "silu", "swiglu", "geglu", NULL};
static const XfAct act_values[] = {XF_ACT_RELU, XF_ACT_RELU2, XF_ACT_GELU, XF_ACT_GELU_TANH,
                                   XF_ACT_SILU, XF_ACT_SWIGLU, XF_ACT_GEGLU};

int fe_sema_sublayer_kind(const char *name)
{
    for (int i = 0; sub_names[i]; i++)
        if (strcmp(sub_names[i], name) == 0)
            return i;
    return -1;
}

/* Where a found argument's value is (its name for a bare flag). */
static XfLoc vloc(const XfAstArg *arg) { return fe_sema_value_loc(arg->loc, arg->value); }

/* Every integer parameter of a sublayer reaches the generated C as an int. */
static bool get_int(XfSema *s, const XfAstArg *arg, int64_t *out)
{
    return fe_sema_get_c_int(s, arg->name, arg->loc, arg->value, out);
}

static bool get_bool(XfSema *s, const XfAstArg *arg, bool *out)
{
    return fe_sema_get_bool(s, arg->name, arg->loc, arg->value, out);
}

static void get_act(XfSema *s, const XfAstArg *arg, XfAct *out)
{
    int i;
    if (arg && fe_sema_get_choice(s, "act", "activation", arg->loc, arg->value, act_names, &i))
        *out = act_values[i];
}

/* The factor for a parameter: it may carry the caret only when it was written. */
static XfFactor own(const char *name, int64_t v, const XfAstArg *arg)
{
    return (XfFactor){name, v, arg ? vloc(arg) : (XfLoc){0, 0, 0}};
}

static XfFactor model_factor(const char *name, int64_t v) { return (XfFactor){name, v, {0, 0, 0}}; }

/* ---- attention ---------------------------------------------------------- */

enum { A_HEADS, A_KV, A_HD, A_ROPE, A_BIDIR, A_WINDOW, A_BIAS, A_NORM, A_N };
static const XfParamSpec attn_spec[A_N] = {
    {"heads", true}, {"kv_heads", false}, {"head_dim", false}, {"rope", false},
    {"bidirectional", false}, {"window", false}, {"bias", false}, {"norm", false},
};

static void check_rope(XfSema *s, const XfAstArg *arg, XfSublayerDesc *out)
{
    const XfAstValue *v = arg->value;
    const char *name = fe_sema_value_name(v);
    double base = 0;
    if (name && strcmp(name, "none") == 0) {
        out->u.attn.rope = false;
        return;
    }
    if (!v || v->kind != XF_VAL_NUMBER) {
        fe_sema_error(s, vloc(arg), "rope must be a positive number or none, got %s",
                      fe_ast_value_describe(s->a, v));
        return;
    }
    if (!fe_sema_get_number(s, "rope", arg->loc, v, &base))
        return;
    if (base <= 0) {
        fe_sema_error(s, v->loc, "rope must be a positive number or none, got %s", v->text);
        return;
    }
    if (s->position != XF_POS_ROPE) {
        fe_sema_error(s, v->loc, "rope = %s has no effect: the model's position is %s "
                      "(remove it or write rope = none)", v->text,
                      s->position == XF_POS_LEARNED ? "learned" : "none");
        return;
    }
    out->u.attn.rope_base = base;
}

static void check_window(XfSema *s, const XfAstArg *arg, XfSublayerDesc *out)
{
    const char *name = fe_sema_value_name(arg->value);
    if (name && strcmp(name, "none") == 0)
        out->u.attn.window = 0;
    else if (!arg->value || arg->value->kind != XF_VAL_NUMBER)
        fe_sema_error(s, vloc(arg), "window must be a positive integer or none, got %s",
                      fe_ast_value_describe(s->a, arg->value));
    else
        get_int(s, arg, &out->u.attn.window);
}

static void check_attention(XfSema *s, const XfAstArg **f, XfLoc call_loc, XfSublayerDesc *out)
{
    int64_t heads = 0, kv = 0, hd = 0;
    out->u.attn.rope = s->position == XF_POS_ROPE;
    out->u.attn.rope_base = 10000;
    if (f[A_HEADS])
        get_int(s, f[A_HEADS], &heads);
    if (f[A_KV])
        get_int(s, f[A_KV], &kv);
    else
        kv = heads;
    if (heads && kv && heads % kv != 0)
        fe_sema_error(s, vloc(f[A_KV]), "kv_heads %lld must divide heads %lld", (long long)kv,
                      (long long)heads);
    if (f[A_HD]) {
        get_int(s, f[A_HD], &hd);
    } else if (heads && s->dim) {
        if (s->dim % heads != 0)
            fe_sema_error(s, vloc(f[A_HEADS]), "heads %lld must divide dim %lld (or give head_dim)",
                          (long long)heads, (long long)s->dim);
        else
            hd = s->dim / heads;
    }
    if (f[A_ROPE])
        check_rope(s, f[A_ROPE], out);
    if (out->u.attn.rope && hd % 2 != 0) {
        if (f[A_HD])
            fe_sema_error(s, vloc(f[A_HD]), "head_dim %lld must be even for RoPE", (long long)hd);
        else
            fe_sema_error(s, vloc(f[A_HEADS]),
                          "head_dim %lld (dim / heads) must be even for RoPE", (long long)hd);
    }
    if (f[A_BIDIR])
        get_bool(s, f[A_BIDIR], &out->u.attn.bidirectional);
    if (f[A_WINDOW])
        check_window(s, f[A_WINDOW], out);
    if (f[A_BIAS])
        get_bool(s, f[A_BIAS], &out->u.attn.bias);
    /* the query and KV widths are ints in the generated C too */
    if (heads && hd && heads * hd > XF_C_INT_MAX)     /* both <= XF_C_INT_MAX: no overflow */
        fe_sema_error(s, vloc(f[A_HD] ? f[A_HD] : f[A_HEADS]), "heads %lld * head_dim %lld = "
                      "%lld is too large: the generated C passes it as an int (at most %d)",
                      (long long)heads, (long long)hd, (long long)(heads * hd), XF_C_INT_MAX);
    out->u.attn.heads = heads;
    out->u.attn.kv_heads = kv;
    out->u.attn.head_dim = hd;
    if (heads && hd && s->dim && s->context) {
        XfFactor w[] = {own("heads", heads, f[A_HEADS]), own("head_dim", hd, f[A_HD]),
                        model_factor("dim", s->dim)};
        XfFactor q[] = {own("heads", heads, f[A_HEADS]), own("head_dim", hd, f[A_HD]),
                        model_factor("context", s->context)};
        XfFactor sc[] = {own("heads", heads, f[A_HEADS]), model_factor("context", s->context),
                         model_factor("context", s->context)};
        if (fe_sema_check_size(s, call_loc, w, 3) < 0 && fe_sema_check_size(s, call_loc, q, 3) < 0)
            fe_sema_check_size(s, call_loc, sc, 3);
    }
}

/* ---- ffn, moe, sparse_ffn ----------------------------------------------- */

enum { F_HIDDEN, F_ACT, F_BIAS, F_NORM, F_N };
static const XfParamSpec ffn_spec[F_N] = {
    {"hidden", true}, {"act", false}, {"bias", false}, {"norm", false},
};

static void check_ffn(XfSema *s, const XfAstArg **f, XfLoc call_loc, XfSublayerDesc *out)
{
    int64_t hidden = 0;
    out->u.ffn.act = XF_ACT_GELU;
    if (f[F_HIDDEN])
        get_int(s, f[F_HIDDEN], &hidden);
    get_act(s, f[F_ACT], &out->u.ffn.act);
    if (f[F_BIAS])
        get_bool(s, f[F_BIAS], &out->u.ffn.bias);
    out->u.ffn.hidden = hidden;
    if (hidden && s->dim && s->context) {
        XfFactor w[] = {own("hidden", hidden, f[F_HIDDEN]), model_factor("dim", s->dim)};
        XfFactor h[] = {model_factor("context", s->context), own("hidden", hidden, f[F_HIDDEN])};
        if (fe_sema_check_size(s, call_loc, w, 2) < 0)
            fe_sema_check_size(s, call_loc, h, 2);
    }
}

enum { M_EXPERTS, M_TOPK, M_HIDDEN, M_ACT, M_CAP, M_RENORM, M_NORM, M_N };
static const XfParamSpec moe_spec[M_N] = {
    {"experts", true}, {"top_k", true}, {"hidden", true}, {"act", false},
    {"capacity", false}, {"renorm", false}, {"norm", false},
};

static void check_moe(XfSema *s, const XfAstArg **f, XfLoc call_loc, XfSublayerDesc *out)
{
    int64_t experts = 0, top_k = 0, hidden = 0;
    out->u.moe.act = XF_ACT_SWIGLU;
    out->u.moe.capacity = (XfRatio){0, 1};
    out->u.moe.renorm = true;
    if (f[M_EXPERTS])
        get_int(s, f[M_EXPERTS], &experts);
    if (f[M_TOPK] && get_int(s, f[M_TOPK], &top_k) && experts && top_k > experts)
        fe_sema_error(s, vloc(f[M_TOPK]), "top_k %lld is larger than experts %lld",
                      (long long)top_k, (long long)experts);
    else if (top_k && s->context && top_k * s->context > XF_C_INT_MAX)  /* ints: no overflow */
        fe_sema_error(s, vloc(f[M_TOPK]), "context %lld * top_k %lld = %lld expert assignments "
                      "is too large: the generated C counts them in an int (at most %d)",
                      (long long)s->context, (long long)top_k, (long long)(top_k * s->context),
                      XF_C_INT_MAX);
    if (f[M_HIDDEN])
        get_int(s, f[M_HIDDEN], &hidden);
    get_act(s, f[M_ACT], &out->u.moe.act);
    XfRatio cap = {0, 1};
    if (f[M_CAP] && fe_sema_get_ratio(s, "moe capacity", f[M_CAP]->loc, f[M_CAP]->value, &cap)) {
        int64_t ct;
        if (cap.num && experts && top_k && s->context &&
            (xf_mul_overflow(s->context, top_k, &ct) || xf_ratio_ceil_mul(cap, ct, experts) < 0))
            fe_sema_error(s, vloc(f[M_CAP]), "capacity %s is too large or too precise: "
                          "ceil(capacity * context * top_k / experts) overflows 64 bits",
                          f[M_CAP]->value->text);
        else
            out->u.moe.capacity = cap;
    }
    if (f[M_RENORM])
        get_bool(s, f[M_RENORM], &out->u.moe.renorm);
    out->u.moe.experts = experts;
    out->u.moe.top_k = top_k;
    out->u.moe.hidden = hidden;
    if (experts && top_k && hidden && s->dim && s->context) {
        XfFactor w[] = {own("experts", experts, f[M_EXPERTS]), own("hidden", hidden, f[M_HIDDEN]),
                        model_factor("dim", s->dim)};
        XfFactor a[] = {model_factor("context", s->context), own("top_k", top_k, f[M_TOPK]),
                        own("hidden", hidden, f[M_HIDDEN])};
        XfFactor r[] = {model_factor("context", s->context),
                        own("experts", experts, f[M_EXPERTS])};
        if (fe_sema_check_size(s, call_loc, w, 3) < 0 && fe_sema_check_size(s, call_loc, a, 3) < 0)
            fe_sema_check_size(s, call_loc, r, 2);
    }
}

enum { S_HIDDEN, S_BLOCK, S_LOWRANK, S_BIAS, S_NORM, S_N };
static const XfParamSpec sffn_spec[S_N] = {
    {"hidden", true}, {"block", true}, {"lowrank", false}, {"bias", false}, {"norm", false},
};

static void check_sffn(XfSema *s, const XfAstArg **f, XfLoc call_loc, XfSublayerDesc *out)
{
    int64_t hidden = 0, block = 0, lowrank = 0;
    out->u.sffn.bias = true;
    if (f[S_HIDDEN])
        get_int(s, f[S_HIDDEN], &hidden);
    if (f[S_BLOCK] && get_int(s, f[S_BLOCK], &block) && hidden && hidden % block != 0)
        fe_sema_error(s, vloc(f[S_BLOCK]), "block %lld must divide hidden %lld", (long long)block,
                      (long long)hidden);
    if (f[S_LOWRANK])
        get_int(s, f[S_LOWRANK], &lowrank);
    else if (s->dim)
        lowrank = s->dim / 8 > 1 ? s->dim / 8 : 1;
    if (f[S_BIAS])
        get_bool(s, f[S_BIAS], &out->u.sffn.bias);
    out->u.sffn.hidden = hidden;
    out->u.sffn.block = block;
    out->u.sffn.lowrank = lowrank;
    if (hidden && lowrank && s->dim && s->context) {
        XfFactor w[] = {own("hidden", hidden, f[S_HIDDEN]), model_factor("dim", s->dim)};
        XfFactor c1[] = {own("lowrank", lowrank, f[S_LOWRANK]), model_factor("dim", s->dim)};
        XfFactor c2[] = {own("hidden", hidden, f[S_HIDDEN]), own("lowrank", lowrank, f[S_LOWRANK])};
        XfFactor h[] = {model_factor("context", s->context), own("hidden", hidden, f[S_HIDDEN])};
        if (fe_sema_check_size(s, call_loc, w, 2) < 0 && fe_sema_check_size(s, call_loc, c1, 2) < 0 &&
            fe_sema_check_size(s, call_loc, c2, 2) < 0)
            fe_sema_check_size(s, call_loc, h, 2);
    }
}

/* ---- entry points ------------------------------------------------------- */

bool fe_sema_sublayer(XfSema *s, const XfAstCall *c, XfSublayerDesc *out)
{
    static const XfParamSpec *const specs[] = {attn_spec, ffn_spec, moe_spec, sffn_spec};
    static const int n_specs[] = {A_N, F_N, M_N, S_N};
    int kind = fe_sema_sublayer_kind(c->name);
    XF_ASSERT(kind >= 0);
    int before = (int)s->diags.len;
    const XfAstArg *f[8];       /* the longest spec: attention */
    _Static_assert((int)A_N <= 8 && (int)M_N <= 8, "argument slots");
    fe_sema_match_args(s, c->name, c->loc, c->args, specs[kind], n_specs[kind], f);
    memset(out, 0, sizeof *out);
    out->kind = (XfSubKind)kind;
    out->loc = c->loc;
    out->norm = s->norm;
    const XfAstArg *norm = f[n_specs[kind] - 1];    /* norm is every spec's last entry */
    if (norm)
        fe_sema_get_norm(s, norm->loc, norm->value, &out->norm);
    switch (out->kind) {
    case XF_SUB_ATTENTION:
        check_attention(s, f, c->loc, out);
        break;
    case XF_SUB_FFN:
        check_ffn(s, f, c->loc, out);
        break;
    case XF_SUB_MOE:
        check_moe(s, f, c->loc, out);
        break;
    case XF_SUB_SPARSE_FFN:
        check_sffn(s, f, c->loc, out);
        break;
    }
    return (int)s->diags.len == before;
}

enum { D_CAP, D_GATE, D_THRESHOLD, D_N };
static const XfParamSpec mod_spec[D_N] = {
    {"capacity", true}, {"gate", false}, {"decode_threshold", false},
};

bool fe_sema_mod(XfSema *s, XfAstEntry *e)
{
    static const char *const gates[] = {"linear", "sigmoid", NULL};
    const XfAstArg *f[D_N];
    int before = (int)s->diags.len;
    fe_sema_match_args(s, "mod", e->loc, e->args, mod_spec, D_N, f);
    XfRatio cap;
    if (f[D_CAP] && fe_sema_get_ratio(s, "mod capacity", f[D_CAP]->loc, f[D_CAP]->value, &cap)) {
        if (cap.num == 0 || cap.num > cap.den)
            fe_sema_error(s, vloc(f[D_CAP]), "mod capacity must be in (0, 1], got %s",
                          f[D_CAP]->value->text);
        else if (s->context && xf_ratio_ceil_mul(cap, s->context, 1) < 0)
            fe_sema_error(s, vloc(f[D_CAP]), "capacity %s is too precise: "
                          "ceil(capacity * context) overflows 64 bits", f[D_CAP]->value->text);
        else
            e->mod_capacity = cap;
    }
    int gate = 0;
    if (f[D_GATE])
        fe_sema_get_choice(s, "gate", "gate", f[D_GATE]->loc, f[D_GATE]->value, gates, &gate);
    e->mod_sigmoid = gate == 1;
    e->mod_threshold = 0.0;
    if (f[D_THRESHOLD])
        fe_sema_get_number(s, "decode_threshold", f[D_THRESHOLD]->loc, f[D_THRESHOLD]->value,
                           &e->mod_threshold);
    return (int)s->diags.len == before;
}
