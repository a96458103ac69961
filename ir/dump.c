/* dump.c - the stable text form of the IR (golden tests diff it) and DOT.
 * Nothing printed depends on pointers or hash order. */
#include <string.h>

#include "ir.h"

static const char *path_base(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "?";
}

/* "n" for the tokens of the call, "k<s>" for a MoD stream, "a<s>" for MoE assignments */
static void rows_name(const XfGraph *g, int s, char *buf, size_t n)
{
    XfStreamKind kind = g->streams[s].kind;
    if (kind == XF_STREAM_TOKENS)
        snprintf(buf, n, "n");
    else
        snprintf(buf, n, "%c%d", kind == XF_STREAM_MOD ? 'k' : 'a', s);
}

void ir_shape_str(const XfGraph *g, const XfShape *s, XfDtype dt, char *buf, size_t n)
{
    size_t len = (size_t)snprintf(buf, n, "%s[", dt == XF_F32 ? "f32" : dt == XF_I32 ? "i32" : "route");
    for (int i = 0; i < s->rank && len < n; i++) {
        char r[16];
        if (i == 0 && s->stream) {
            rows_name(g, s->stream, r, sizeof r);
            len += (size_t)snprintf(buf + len, n - len, "%s<=%lld", r, (long long)s->dim[0]);
        } else {
            len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? "," : "", (long long)s->dim[i]);
        }
    }
    if (len < n)
        snprintf(buf + len, n - len, "]");
}

/* ---- attribute printers (the attrs column of ops.def) ---------------------- */
typedef void AttrsFn(const XfNode *x, char *buf, size_t n);

static void attrs_none(const XfNode *x, char *buf, size_t n) { (void)x, (void)n, buf[0] = '\0'; }

static void attrs_eps(const XfNode *x, char *buf, size_t n) { snprintf(buf, n, " eps=%g", x->attr.eps); }

static void attrs_act(const XfNode *x, char *buf, size_t n)
{
    snprintf(buf, n, " act=%s", ir_act_name(x->attr.act));
}

static void attrs_rope(const XfNode *x, char *buf, size_t n)
{
    const XfAttrs *a = &x->attr;
    snprintf(buf, n, " heads=%lld head_dim=%lld base=%g", (long long)a->heads, (long long)a->head_dim,
             a->base);
}

static void attrs_attention(const XfNode *x, char *buf, size_t n)
{
    const XfAttrs *a = &x->attr;
    snprintf(buf, n, " heads=%lld kv_heads=%lld head_dim=%lld %s window=%lld cache=%d",
             (long long)a->heads, (long long)a->kv_heads, (long long)a->head_dim,
             a->causal ? "causal" : "bidirectional", (long long)a->window, a->layer);
}

static void attrs_mod_select(const XfNode *x, char *buf, size_t n)
{
    const XfAttrs *a = &x->attr;
    snprintf(buf, n, " capacity=%lld/%lld decode_threshold=%g", (long long)a->capacity.num,
             (long long)a->capacity.den, a->threshold);
}

static void attrs_mod_combine(const XfNode *x, char *buf, size_t n)
{
    snprintf(buf, n, " gate=%s", x->attr.sigmoid ? "sigmoid" : "linear");
}

static void attrs_moe_combine(const XfNode *x, char *buf, size_t n)
{
    snprintf(buf, n, "%s", x->n_in == 3 ? " +residual" : "");
}

static void attrs_moe_route(const XfNode *x, char *buf, size_t n)
{
    const XfAttrs *a = &x->attr;
    snprintf(buf, n, " experts=%lld top_k=%lld renorm=%d capacity=%lld/%lld", (long long)a->experts,
             (long long)a->top_k, a->renorm, (long long)a->capacity.num, (long long)a->capacity.den);
}

static void attrs_sffn_select(const XfNode *x, char *buf, size_t n)
{
    snprintf(buf, n, " block=%lld", (long long)x->attr.block);
}

/* the group's members, on a comment line of their own (see ir_graph_dump) */
static void attrs_fused(const XfNode *x, char *buf, size_t n) { (void)x, (void)n, buf[0] = '\0'; }

static void attrs_part(const XfNode *x, char *buf, size_t n)
{
    const XfFuseSeg *sg = &x->attr.fuse->seg[x->attr.part];
    snprintf(buf, n, " segment=%d columns=%lld..%lld", x->attr.part, (long long)sg->offset,
             (long long)(sg->offset + sg->cols));
}

static AttrsFn *const attrs_fn[XF_OP_COUNT] = {
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) \
    [XF_OP_##e] = attrs,
#include "ops.def"
#undef XF_OP
};

void ir_graph_dump(const XfGraph *g, FILE *out)
{
    fprintf(out, "# xfc IR of model %s (%s): vocab=%lld dim=%lld context=%lld\n",
            g->model_name ? g->model_name : "?", path_base(g->src_path), (long long)g->vocab,
            (long long)g->dim, (long long)g->context);
    for (uint32_t s = 1; s < g->n_streams; s++) {
        const XfStream *st = &g->streams[s];
        char r[16];
        rows_name(g, (int)s, r, sizeof r);
        fprintf(out, "# stream %-3s <= %-6lld %s", r, (long long)ir_stream_bound(g, (int)s),
                st->kind == XF_STREAM_TOKENS ? "tokens of the call (context)"
                : st->kind == XF_STREAM_MOD  ? "tokens routed into a MoD instance"
                                             : "MoE expert assignments");
        if (st->def)
            fprintf(out, ", defined by t%u", st->def);
        if (st->derivation)
            fprintf(out, ": %s", st->derivation);
        fputc('\n', out);
    }
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        char sh[96], at[160], lhs[512];
        size_t len = (size_t)snprintf(lhs, sizeof lhs, "t%-4u = %s", id, ir_node_name(x));
        if (x->op == XF_OP_WEIGHT)
            len += (size_t)snprintf(lhs + len, sizeof lhs - len, " \"%s\"", x->attr.name);
        for (int i = 0; i < x->n_in && len < sizeof lhs; i++)
            len += (size_t)snprintf(lhs + len, sizeof lhs - len, "%st%u", i ? ", " : "(", x->in[i]);
        if (x->n_in && len < sizeof lhs)
            snprintf(lhs + len, sizeof lhs - len, ")");
        attrs_fn[x->op](x, at, sizeof at);
        ir_shape_str(g, &x->shape, x->dtype, sh, sizeof sh);
        fprintf(out, "%-44s%s : %s", lhs, at, sh);
        if (g->plan.done && g->plan.offset[id] >= 0)
            fprintf(out, " @%lld+%lld", (long long)g->plan.offset[id], (long long)g->plan.size[id]);
        fprintf(out, "  ;");
        if (x->block >= 0)
            fprintf(out, " b%d", x->block);
        if (x->sub >= 0)
            fprintf(out, ".s%d", x->sub);
        if (x->label)
            fprintf(out, " %s", x->label);
        if (x->flags & XF_NODE_OUTPUT)
            fprintf(out, " output");
        if (x->flags & XF_NODE_BARRIER)
            fprintf(out, " barrier");
        if (x->loc.line)
            fprintf(out, " %s:%u", path_base(g->src_path), x->loc.line);
        fputc('\n', out);
        if (x->op == XF_OP_FUSED)
            for (int m = 0; m < x->attr.fuse->n_members; m++) {
                const XfFuseMember *mb = &x->attr.fuse->members[m];
                fprintf(out, "#        %s %-14s %-16s %s:%u:%u\n", m ? "  " : "of", xf_op_info[mb->op].name,
                        mb->label ? mb->label : "", path_base(g->src_path), mb->loc.line, mb->loc.col);
            }
    }
    if (g->plan.done)
        fprintf(out, "# memory plan: arena %lld bytes, KV caches %lld bytes\n",
                (long long)g->plan.arena_bytes, (long long)g->plan.kv_bytes);
}

void ir_graph_dump_dot(const XfGraph *g, FILE *out)
{
    fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
            g->model_name ? g->model_name : "xf");
    int cur = -2;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->op == XF_OP_WEIGHT)
            continue;
        if (x->block != cur) {
            if (cur >= 0)
                fprintf(out, "  }\n");
            cur = x->block;
            if (cur >= 0)
                fprintf(out, "  subgraph cluster_b%d {\n    label=\"block %d\";\n", cur, cur);
        }
        char sh[96];
        ir_shape_str(g, &x->shape, x->dtype, sh, sizeof sh);
        if (x->op == XF_OP_FUSED) {
            /* a cluster of its members in order; t<id> is the last, the group's output */
            const XfFuse *fu = x->attr.fuse;
            fprintf(out, "    subgraph cluster_t%u {\n      label=\"t%u %s\\n%s\";\n      style=filled; "
                    "fillcolor=\"#eeeeff\";\n", id, id, fu->name, sh);
            for (int m = 0; m < fu->n_members; m++) {
                const XfFuseMember *mb = &fu->members[m];
                if (m + 1 < fu->n_members)
                    fprintf(out, "      t%u_%d", id, m);
                else
                    fprintf(out, "      t%u", id);
                fprintf(out, " [label=\"%s\\n%s%s%u:%u\"];\n", xf_op_info[mb->op].name,
                        mb->label ? mb->label : "", mb->label ? " " : "", mb->loc.line, mb->loc.col);
            }
            /* the dataflow between members; the last member is named t<id> */
            for (int m = 0; m < fu->n_members; m++)
                for (int k = 0; k < 2; k++) {
                    int src = fu->members[m].src[k];
                    if (src < 0)
                        continue;
                    fprintf(out, "      t%u_%d -> t%u", id, src, id);
                    if (m + 1 < fu->n_members)
                        fprintf(out, "_%d", m);
                    fprintf(out, ";\n");
                }
            fprintf(out, "    }\n");
            continue;
        }
        fprintf(out, "    t%u [label=\"t%u %s\\n%s%s%s\"];\n", id, id, xf_op_info[x->op].name, sh,
                x->label ? "\\n" : "", x->label ? x->label : "");
    }
    if (cur >= 0)
        fprintf(out, "  }\n");
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        bool group = x->op == XF_OP_FUSED && x->attr.fuse->n_members > 1;
        for (int i = 0; i < x->n_in; i++)
            if (g->nodes[x->in[i]].op != XF_OP_WEIGHT) {
                /* into a group: to its first member */
                if (group)
                    fprintf(out, "  t%u -> t%u_0;\n", x->in[i], id);
                else
                    fprintf(out, "  t%u -> t%u;\n", x->in[i], id);
            }
    }
    fprintf(out, "}\n");
}
