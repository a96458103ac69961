/* module.c - the generated file's skeleton: header, embedded runtime, memory
 * plan constants, the model struct, one run function walking the IR in
 * order, and the C API of docs/c-api.md (open, close, forward, decode, reset).
 *
 * Entry: a graph through the whole pipeline (memory plan done).  The output
 * depends only on the graph and the options, so it is byte-for-byte
 * deterministic. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

extern const char *const xf_runtime_lines[];   /* runtime_src.c (tools/embed.c) */

static const CgEmitFn emitters[XF_OP_COUNT] = {
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) [XF_OP_##e] = emit,
#include "../ir/ops.def"
#undef XF_OP
};

const char *cg_fmt(CgCtx *c, const char *fmt, ...)
{
    char *buf = c->ring[c->ring_next];
    c->ring_next = (c->ring_next + 1) % 16;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof c->ring[0], fmt, ap);
    va_end(ap);
    return buf;
}

const char *cg_float(CgCtx *c, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.9g", v);
    if (!strpbrk(buf, ".eEn"))   /* "0" -> "0.0"; inf/nan cannot come from the parser */
        strcat(buf, ".0");
    return cg_fmt(c, "%sf", buf);
}

const char *cg_mat(CgCtx *c, XfId id)
{
    XF_ASSERT(c->mat_index[id] >= 0);
    return cg_fmt(c, "t%um", id);
}

/* Every input slot of every node: a product's W (linear, grouped_linear, a
 * fused group's W and W2), the embedding's table, or anything else. */
void cg_weight_uses(const XfGraph *g, uint8_t *use)
{
    for (XfId id = 0; id <= g->n_nodes; id++)
        use[id] = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        for (int i = 0; i < x->n_in; i++) {
            int u = CG_USE_FLOAT;
            if ((x->op == XF_OP_LINEAR || x->op == XF_OP_GROUPED_LINEAR) && i == 1)
                u = CG_USE_PRODUCT;
            else if (x->op == XF_OP_EMBED && i == 0)
                u = CG_USE_EMBED;
            else if (x->op == XF_OP_FUSED)
                for (int s = 0; s < x->attr.fuse->n_seg; s++)
                    if (x->attr.fuse->seg[s].w == i || x->attr.fuse->seg[s].w2 == i)
                        u = CG_USE_PRODUCT;
            XF_ASSERT(u == CG_USE_FLOAT || g->nodes[x->in[i]].op == XF_OP_WEIGHT);
            use[x->in[i]] |= (uint8_t)u;
        }
    }
}

const char *cg_var(CgCtx *c, XfId id)
{
    return c->g->nodes[id].flags & XF_NODE_OUTPUT ? "logits" : cg_fmt(c, "t%u", id);
}

const char *cg_stream_rows(CgCtx *c, int s)
{
    const XfStream *st = &c->g->streams[s];
    if (st->kind == XF_STREAM_TOKENS)
        return "n";
    return cg_fmt(c, "%c%d", st->kind == XF_STREAM_MOD ? 'k' : 'a', s);
}

const char *cg_rows(CgCtx *c, XfId id) { return cg_stream_rows(c, c->g->nodes[id].shape.stream); }

/* The distinct (head_dim, base) of the model's RoPE, standalone and fused,
 * in graph order: m->rope[i] holds table i. */
static void collect_rope(CgCtx *c)
{
    const XfGraph *g = c->g;
    c->rope_hd = xf_xcalloc((size_t)g->n_nodes + 1, sizeof *c->rope_hd);
    c->rope_base = xf_xcalloc((size_t)g->n_nodes + 1, sizeof *c->rope_base);
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        int64_t hd[XF_FUSE_MAX_SEG];
        double base[XF_FUSE_MAX_SEG];
        int k = 0;
        if (x->op == XF_OP_ROPE) {
            hd[k] = x->attr.head_dim, base[k++] = x->attr.base;
        } else if (x->op == XF_OP_FUSED) {
            for (int s = 0; s < x->attr.fuse->n_seg; s++)
                if (x->attr.fuse->seg[s].rope_pos >= 0)
                    hd[k] = x->attr.fuse->seg[s].rope_head_dim, base[k++] = x->attr.fuse->seg[s].rope_base;
        }
        for (int j = 0; j < k; j++) {
            int i = 0;
            while (i < c->n_rope && !(c->rope_hd[i] == hd[j] && c->rope_base[i] == base[j]))
                i++;
            if (i == c->n_rope) {
                c->rope_hd[i] = hd[j];
                c->rope_base[i] = base[j];
                c->n_rope++;
            }
        }
    }
}

int cg_rope_index(CgCtx *c, int64_t head_dim, double base)
{
    for (int i = 0; i < c->n_rope; i++)
        if (c->rope_hd[i] == head_dim && c->rope_base[i] == base)
            return i;
    xf_unreachable();
}

int64_t cg_last_dim(CgCtx *c, XfId id)
{
    const XfShape *s = &c->g->nodes[id].shape;
    return s->dim[s->rank - 1];
}

void cg_decl(CgCtx *c, XfId id)
{
    const XfNode *x = &c->g->nodes[id];
    if (x->flags & XF_NODE_OUTPUT)
        return;
    XF_ASSERT(c->g->plan.offset[id] >= 0);
    const char *t = x->dtype == XF_I32 ? "int32_t" : "float";
    cw_line(c->w, "%s *%s = (%s *)(A + XF_OFF_T%u);", t, cg_var(c, id), t, id);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Text from outside (paths, the command line) inside a generated comment:
 * printable ASCII is kept, except that "*\/" could end the comment and "??"
 * start a trigraph; other bytes (newlines included) are written as \ooo. */
static char *comment_text(const char *s)
{
    XfStrBuf sb = {0};
    xf_sb_putn(&sb, "", 0);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '*' && p[1] == '/')
            xf_sb_puts(&sb, "*\\");
        else if (*p == '?' && p[1] == '?')
            xf_sb_puts(&sb, "?\\");
        else if (*p < 0x20 || *p >= 0x7f || *p == '\\')
            xf_sb_printf(&sb, "\\%03o", *p);
        else
            xf_sb_putn(&sb, (const char *)p, 1);
    }
    return sb.data;
}

/* The inside of a C string literal naming s: '"', '\\', '?' (trigraphs) and
 * every byte outside printable ASCII escaped, so #line names exactly s. */
static char *c_string_text(const char *s)
{
    XfStrBuf sb = {0};
    xf_sb_putn(&sb, "", 0);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')
            xf_sb_printf(&sb, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            xf_sb_printf(&sb, "\\%03o", *p);
        else
            xf_sb_putn(&sb, (const char *)p, 1);
    }
    return sb.data;
}

static void emit_comment_for(CgCtx *c, XfId id)
{
    const XfGraph *g = c->g;
    const XfNode *x = &g->nodes[id];
    char sh[96], ins[160] = "";
    size_t len = 0;
    for (int i = 0; i < x->n_in && len < sizeof ins; i++)
        len += (size_t)snprintf(ins + len, sizeof ins - len, "%st%u", i ? ", " : "", x->in[i]);
    ir_shape_str(g, &x->shape, x->dtype, sh, sizeof sh);
    cw_line(c->w, "/* %s:%u:%u  %s(%s) -> t%u %s%s%s%s */", c->src_base, x->loc.line, x->loc.col,
            ir_node_name(x), ins, id, sh,
            x->block >= 0 ? cg_fmt(c, "  b%d", x->block) : "",
            x->sub >= 0 ? cg_fmt(c, ".s%d", x->sub) : "", x->label ? cg_fmt(c, " %s", x->label) : "");
    if (c->opt->line_directives && x->loc.line)
        cw_line(c->w, "#line %u \"%s\"", x->loc.line, c->src_path_lit);
}

static void emit_run(CgCtx *c)
{
    const XfGraph *g = c->g;
    CWriter *w = c->w;
    cw_line(w, "/* One call of the model over n rows of the tokens stream: a forward of n");
    cw_line(w, " * tokens (decode = 0) or one decoded token (decode = 1, n = 1), appended to");
    cw_line(w, " * the KV caches after m->n_past earlier tokens.  Inputs are already checked.");
    cw_line(w, " * One parallel region: every thread makes every kernel call below and does");
    cw_line(w, " * its share of it; threads meet only at the barriers (pass sched). */");
    cw_open(w, "static void xf_run(%s *m, const int32_t *tokens, int n, int decode, float *logits)",
            c->name);
    cw_line(w, "unsigned char *A = m->arena;");
    cw_line(w, "(void)A;");
    cw_line(w, "(void)decode;");
    cw_line(w, "XFRT_PARALLEL_REGION");
    cw_open(w, "%s", "");
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->flags & XF_NODE_BARRIER)
            cw_line(w, "XFRT_BARRIER();");
        if (x->op != XF_OP_WEIGHT)
            emit_comment_for(c, id);
        emitters[x->op](c, id);
        if (c->opt->line_directives && x->loc.line && x->op != XF_OP_WEIGHT)
            cw_line(w, "#line %ld \"%s\"", w->line + 2, c->out_base_lit);
    }
    cw_close(w, NULL);
    cw_close(w, NULL);
}

static int n_weights(const XfGraph *g)
{
    int k = 0;
    for (XfId id = 1; id <= g->n_nodes; id++)
        k += g->nodes[id].op == XF_OP_WEIGHT;
    return k;
}

/* ---- weight formats (--weights) ------------------------------------------
 * Which matrices convert is ir_weight_converts; the values each format
 * stands for are runtime/xfrt_wfmt.h's.  open reads every tensor's fp32
 * values (BF16 and F16 widened exactly); xfrt_mat_pack converts a matrix to
 * its format while it packs it, and a converted matrix read as floats (a
 * sparse FFN's units) is kept as its w' values (xfrt_wf_apply), so every
 * reader of a matrix sees w'. */
static const char *weight_fmt_const(const CgCtx *c, const XfNode *w)
{
    if (!ir_weight_converts(w->attr.name))
        return "XFRT_WF_F32";
    switch (c->opt->weights) {
    case XF_WEIGHTS_BF16: return "XFRT_WF_BF16";
    case XF_WEIGHTS_Q8: return "XFRT_WF_Q8";
    default: return "XFRT_WF_F32";
    }
}

static void emit_weight_loads(CgCtx *c)
{
    CWriter *w = c->w;
    cw_line(w, "const uint16_t *xf_raw[%d] = {0};   /* BF16 values as stored, for raw matrices */", n_weights(c->g));
    cw_open(w, "for (int xf_i = 0; xf_i < %d; xf_i++)", n_weights(c->g));
    cw_open(w, "if (xf_weights[xf_i].raw)");
    cw_line(w, "const void *xf_d;");
    cw_line(w, "int xf_dt;");
    cw_line(w, "if (xfrt_st_get_raw(&xf_m->st, xf_weights[xf_i].name, xf_weights[xf_i].rank, xf_weights[xf_i].dim,");
    cw_line(w, "                    &xf_d, &xf_dt, xf_err, xf_err_size) != 0)");
    cw_line(w, "    goto xf_fail;");
    cw_open(w, "if (xf_dt == XFRT_DT_BF16)");
    cw_line(w, "xf_raw[xf_i] = (const uint16_t *)xf_d;");
    cw_line(w, "continue;");
    cw_close(w, NULL);
    cw_close(w, NULL);
    cw_line(w, "if (xfrt_st_get_for(&xf_m->st, xf_weights[xf_i].name, xf_weights[xf_i].rank,");
    cw_line(w, "                    xf_weights[xf_i].dim, xf_weights[xf_i].fmt, &xf_m->w[xf_i],");
    cw_line(w, "                    xf_err, xf_err_size) != 0)");
    cw_line(w, "    goto xf_fail;");
    cw_close(w, NULL);
}

static void emit_header(CgCtx *c, XfStrBuf *h)
{
    const XfGraph *g = c->g;
    const char *N = c->name;
    xf_sb_printf(h, "/* %s.h - generated by xfc %s from %s; do not edit.\n", N, XF_VERSION, c->src_base);
    xf_sb_printf(h,
        " *\n"
        " * The C API of model %s: open a weights file, run a forward over a prompt,\n"
        " * decode one token at a time with the KV cache, reset, close.  The model's\n"
        " * sizes, buffers and weight list are fixed here, at compile time; nothing is\n"
        " * allocated after %s_open.  xfc's docs/c-api.md and docs/weights.md say more.\n"
        " *\n"
        " * Return codes: functions returning int give 0 on success or one of the\n"
        " * negative %s_ERR_* codes below; on an error nothing is written to the\n"
        " * output buffer and the model, its KV cache included, is unchanged.\n"
        " *\n"
        " * Threads: forward and decode use OpenMP when the .c file is compiled with it\n"
        " * (OMP_NUM_THREADS sets the count); the results are bitwise the same for any\n"
        " * thread count.  One %s object must not be used by two threads at once;\n"
        " * distinct objects are independent. */\n", N, N, N, N);
    /* the exact name: names that differ in case or only after a long prefix
     * get different guards (xf is a prefix no model name has) */
    xf_sb_printf(h, "#ifndef XF_MODEL_%s_H\n#define XF_MODEL_%s_H\n\n", N, N);
    xf_sb_printf(h, "#include <stddef.h>\n#include <stdint.h>\n\n");
    xf_sb_printf(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    xf_sb_printf(h, "#define %s_VOCAB   %lld   /* tokens are in [0, VOCAB) */\n", N, (long long)g->vocab);
    xf_sb_printf(h, "#define %s_DIM     %lld   /* model width */\n", N, (long long)g->dim);
    xf_sb_printf(h, "#define %s_CONTEXT %lld   /* most tokens one forward or the KV cache holds */\n", N,
                 (long long)g->context);
    xf_sb_printf(h, "#define %s_OUT     %lld   /* floats per token of output: VOCAB, or DIM for "
                 "head = none */\n", N, (long long)cg_last_dim(c, g->logits));
    xf_sb_printf(h, "#define %s_N_WEIGHTS   %d   /* tensors %s_open reads */\n", N, n_weights(g), N);
    xf_sb_printf(h, "#define %s_WEIGHTS     \"%s\"   /* --weights: how the matrices are kept (f32, bf16, q8) */\n",
                 N, ir_weight_format_name(c->opt->weights));
    xf_sb_printf(h, "#define %s_WEIGHT_BYTES %lld   /* bytes the weights take in that format */\n", N,
                 (long long)ir_weights_resident_bytes(g, c->opt->weights));
    xf_sb_printf(h, "#define %s_ARENA_BYTES %lld   /* activations, planned by pass memplan */\n", N,
                 (long long)g->plan.arena_bytes);
    xf_sb_printf(h, "#define %s_KV_BYTES    %lld   /* KV caches of %d attention layers */\n", N,
                 (long long)g->plan.kv_bytes, g->n_layers_kv);
    xf_sb_printf(h, "#define %s_HAS_DECODE  %d   /* 0: bidirectional attention, decode refuses */\n\n",
                 N, g->has_decode);
    xf_sb_printf(h, "#define %s_ERR_ARG       (-1)  /* NULL pointer, or n outside [1, CONTEXT] */\n", N);
    xf_sb_printf(h, "#define %s_ERR_TOKEN     (-2)  /* a token outside [0, VOCAB) */\n", N);
    xf_sb_printf(h, "#define %s_ERR_FULL      (-3)  /* decode with CONTEXT tokens in the cache */\n", N);
    xf_sb_printf(h, "#define %s_ERR_NO_DECODE (-4)  /* decode on a model with bidirectional attention */\n\n", N);
    xf_sb_printf(h, "/* One loaded model: its weights (packed from the file by %s_open), activation\n"
                    " * arena and KV cache.  Opaque; made by %s_open, freed by %s_close. */\n", N, N, N);
    xf_sb_printf(h, "typedef struct %s %s;\n\n", N, N);
    xf_sb_printf(h,
        "/* Opens the safetensors file at weights_path, checks that it holds every\n"
        " * tensor of this model with the expected shape (F32, BF16 or F16), keeps\n"
        " * the matrices as %s_WEIGHTS says, and allocates the arena\n"
        " * and KV cache (empty).  Returns a new model that the caller owns and frees\n"
        " * with %s_close, or NULL with a message naming the file or the tensor in\n"
        " * err (err_size bytes, always NUL-terminated; err may be NULL).  The matrices\n"
        " * are packed into the kernels' layout and the file is unmapped before %s_open\n"
        " * returns; weights_path is not kept. */\n", N, N, N);
    xf_sb_printf(h, "%s *%s_open(const char *weights_path, char *err, size_t err_size);\n\n", N, N);
    xf_sb_printf(h, "/* Frees m and everything it holds.  NULL is a no-op. */\n");
    xf_sb_printf(h, "void %s_close(%s *m);\n\n", N, N);
    xf_sb_printf(h,
        "/* Runs the model over tokens[0..n), 1 <= n <= CONTEXT, from an empty cache,\n"
        " * and writes n * OUT floats to logits (row i: the output at token i: the\n"
        " * next-token scores after tokens[0..i], or its hidden state for head = none).  The cache then holds the n tokens, so %s_decode\n"
        " * continues the sequence.  The caller owns both buffers; neither is kept.\n"
        " * Returns 0, %s_ERR_ARG or %s_ERR_TOKEN. */\n", N, N, N);
    xf_sb_printf(h, "int  %s_forward(%s *m, const int32_t *tokens, int n, float *logits);\n\n", N, N);
    xf_sb_printf(h,
        "/* Appends one token at the next position and writes its OUT floats.\n"
        " * Returns 0, %s_ERR_ARG, %s_ERR_TOKEN, %s_ERR_FULL (CONTEXT tokens\n"
        " * already cached; %s_reset or a new forward starts over) or\n"
        " * %s_ERR_NO_DECODE (when %s_HAS_DECODE is 0). */\n", N, N, N, N, N, N);
    xf_sb_printf(h, "int  %s_decode(%s *m, int32_t token, float *logits);\n\n", N, N);
    xf_sb_printf(h, "/* Empties the KV cache: the next decode is at position 0.  NULL is a no-op. */\n");
    xf_sb_printf(h, "void %s_reset(%s *m);\n\n", N, N);
    xf_sb_printf(h, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

/* a weight kept as fp32 values after open: read through a float pointer, or
 * an fp32 table only the embedding reads (its XfrtMat borrows the copy) */
static bool weight_kept(const CgCtx *c, XfId id)
{
    uint8_t u = c->weight_use[id];
    return (u & CG_USE_FLOAT) ||
           (u == CG_USE_EMBED && !strcmp(weight_fmt_const(c, &c->g->nodes[id]), "XFRT_WF_F32"));
}

static void emit_api(CgCtx *c)
{
    const XfGraph *g = c->g;
    CWriter *w = c->w;
    const char *N = c->name;
    int nw = n_weights(g);
    long long kv_floats = 0;
    cw_line(w, "/* ---- weights: names, shapes (xfc docs/weights.md) and how %s_open keeps them ---- */", N);
    cw_line(w, "/* fmt: XFRT_WF_F32 as the file's values, or the --weights %s form of a matrix */",
            ir_weight_format_name(c->opt->weights));
    cw_line(w, "/* raw: a bf16 matrix only the kernels' panels hold, packed from a BF16");
    cw_line(w, " * tensor's values as stored (no fp32 copy) */");
    cw_open(w, "static const struct { const char *name; int rank; int64_t dim[3]; int fmt, raw; } xf_weights[%d] =", nw);
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->op != XF_OP_WEIGHT)
            continue;
        const char *fmt = weight_fmt_const(c, x);
        bool raw = !strcmp(fmt, "XFRT_WF_BF16") && c->mat_index[id] >= 0 && !weight_kept(c, id);
        cw_line(w, "{\"%s\", %d, {%lld, %lld, %lld}, %s, %d},", x->attr.name, x->shape.rank,
                (long long)x->shape.dim[0], (long long)x->shape.dim[1], (long long)x->shape.dim[2],
                fmt, raw);
    }
    cw_close(w, ";");
    cw_blank(w);
    cw_line(w, "/* KV caches: one per attention layer, CONTEXT rows each */");
    cw_open(w, "static const int xf_kv_dim[%d] =", g->n_layers_kv ? g->n_layers_kv : 1);
    int *kvd = xf_xcalloc((size_t)g->n_layers_kv + 1, sizeof *kvd);
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->op == XF_OP_ATTENTION)
            kvd[x->attr.layer] = (int)(x->attr.kv_heads * x->attr.head_dim);
    }
    XfStrBuf sb = {0};
    for (int i = 0; i < (g->n_layers_kv ? g->n_layers_kv : 1); i++) {
        xf_sb_printf(&sb, "%s%d", i ? ", " : "", kvd[i]);
        kv_floats += kvd[i];
    }
    cw_line(w, "%s", sb.data);
    xf_sb_free(&sb);
    free(kvd);
    cw_close(w, ";");
    cw_blank(w);
    /* the matrices: packed once in open (runtime/kernels_gemm.c), the file's
     * values converted per --weights; the other tensors copied as fp32 */
    int nm = 0, nk = 0;
    long long kept_floats = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        if (g->nodes[id].op != XF_OP_WEIGHT)
            continue;
        nm += c->mat_index[id] >= 0;
        if (weight_kept(c, id)) {
            long long cnt = 1;
            for (int i = 0; i < g->nodes[id].shape.rank; i++)
                cnt *= g->nodes[id].shape.dim[i];
            kept_floats += (cnt + 15) / 16 * 16;
            nk++;
        }
    }
    cw_line(w, "/* matrices (weight slot, experts, rows, cols, format, panels: 1 for a product's");
    cw_line(w, " * XFRT_NR-wide panels, 0 for an embedding-only table's rows) */");
    cw_open(w, "static const struct { int w, experts, rows, cols, fmt, panels; } xf_mats[%d] =", nm ? nm : 1);
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->op != XF_OP_WEIGHT || c->mat_index[id] < 0)
            continue;
        int r3 = x->shape.rank == 3;
        cw_line(w, "{%d, %lld, %lld, %lld, %s, %d},   /* %s */", c->weight_index[id],
                (long long)(r3 ? x->shape.dim[0] : 1), (long long)x->shape.dim[r3],
                (long long)x->shape.dim[r3 + 1], weight_fmt_const(c, x),
                (c->weight_use[id] & CG_USE_PRODUCT) != 0, x->attr.name);
    }
    if (!nm)
        cw_line(w, "{0, 0, 0, 0, 0, 0},");
    cw_close(w, ";");
    cw_line(w, "/* tensors kept as fp32 values after open (weight slot, floats, cols, format: a");
    cw_line(w, " * converted matrix read as floats holds its w' values) */");
    cw_open(w, "static const struct { int w; long long floats; int cols, fmt; } xf_kept[%d] =", nk ? nk : 1);
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        if (x->op != XF_OP_WEIGHT || !weight_kept(c, id))
            continue;
        long long cnt = 1;
        for (int i = 0; i < x->shape.rank; i++)
            cnt *= x->shape.dim[i];
        cw_line(w, "{%d, %lld, %lld, %s},   /* %s */", c->weight_index[id], cnt,
                (long long)x->shape.dim[x->shape.rank - 1], weight_fmt_const(c, x), x->attr.name);
    }
    if (!nk)
        cw_line(w, "{-1, 0, 0, 0},");
    cw_close(w, ";");
    cw_blank(w);
    cw_open(w, "struct %s", N);
    cw_line(w, "XfrtSafetensors st;        /* open while open runs, closed after */");
    cw_line(w, "const float *w[%d];         /* the fp32 tensors (NULL: only in mat[]) */", nw);
    cw_line(w, "XfrtMat mat[%d];            /* the matrices, packed */", nm ? nm : 1);
    cw_line(w, "float *wmem;               /* the fp32 tensors' copies */");
    cw_line(w, "float *gemm_ws;            /* the products' workspace: a slice per thread */");
    cw_line(w, "unsigned char *arena;      /* %s_ARENA_BYTES */", N);
    cw_line(w, "float *kv_mem;             /* all KV caches */");
    cw_line(w, "int32_t *kv_pos;");
    cw_line(w, "XfrtKV kv[%d];", g->n_layers_kv ? g->n_layers_kv : 1);
    if (c->n_rope)
        cw_line(w, "double *rope[%d];           /* RoPE cos, sin: [CONTEXT][head_dim/2][2] each */", c->n_rope);
    cw_line(w, "int n_past;                /* tokens seen since the last reset */");
    cw_close(w, ";");
    cw_blank(w);
    emit_run(c);
    cw_blank(w);
    cw_open(w, "void %s_reset(%s *m)", N, N);
    cw_line(w, "if (!m)");
    cw_line(w, "    return;");
    cw_line(w, "for (int i = 0; i < %d; i++)", g->n_layers_kv);
    cw_line(w, "    m->kv[i].len = 0;");
    cw_line(w, "m->n_past = 0;");
    cw_close(w, NULL);
    cw_blank(w);
    cw_open(w, "void %s_close(%s *m)", N, N);
    cw_line(w, "if (!m)");
    cw_line(w, "    return;");
    cw_line(w, "xfrt_st_close(&m->st);");
    cw_line(w, "for (int i = 0; i < %d; i++)", nm);
    cw_line(w, "    xfrt_mat_free(&m->mat[i]);");
    cw_line(w, "free(m->wmem);");
    cw_line(w, "free(m->gemm_ws);");
    cw_line(w, "free(m->arena);");
    cw_line(w, "free(m->kv_mem);");
    cw_line(w, "free(m->kv_pos);");
    for (int i = 0; i < c->n_rope; i++)
        cw_line(w, "free(m->rope[%d]);", i);
    cw_line(w, "free(m);");
    cw_close(w, NULL);
    cw_blank(w);
    cw_open(w, "%s *%s_open(const char *xf_path, char *xf_err, size_t xf_err_size)", N, N);
    cw_line(w, "char xf_local[256];");
    cw_open(w, "if (!xf_err || !xf_err_size)");
    cw_line(w, "xf_err = xf_local;");
    cw_line(w, "xf_err_size = sizeof xf_local;");
    cw_close(w, NULL);
    cw_line(w, "xf_err[0] = '\\0';");
    cw_open(w, "if (!xf_path)");
    cw_line(w, "snprintf(xf_err, xf_err_size, \"%s_open: no weights path\");", N);
    cw_line(w, "return NULL;");
    cw_close(w, NULL);
    cw_line(w, "%s *xf_m = (%s *)calloc(1, sizeof *xf_m);", N, N);
    cw_open(w, "if (!xf_m)");
    cw_line(w, "snprintf(xf_err, xf_err_size, \"%s_open: out of memory\");", N);
    cw_line(w, "return NULL;");
    cw_close(w, NULL);
    cw_open(w, "if (xfrt_st_open(&xf_m->st, xf_path, xf_err, xf_err_size) != 0)");
    cw_line(w, "free(xf_m);");
    cw_line(w, "return NULL;");
    cw_close(w, NULL);
    emit_weight_loads(c);
    cw_line(w, "/* the fp32 tensors into one block, the matrices into panels; then the file");
    cw_line(w, " * is unmapped: no weight is resident twice */");
    if (kept_floats) {
        cw_line(w, "xf_m->wmem = (float *)aligned_alloc(64, (size_t)%lld * sizeof(float));", kept_floats);
        cw_open(w, "if (!xf_m->wmem)");
        cw_line(w, "snprintf(xf_err, xf_err_size, \"%s_open: out of memory\");", N);
        cw_line(w, "goto xf_fail;");
        cw_close(w, NULL);
    }
    cw_open(w, "%s", "");
    cw_line(w, "float *xf_p = xf_m->wmem;");
    cw_open(w, "for (int xf_i = 0; xf_i < %d; xf_i++)", nk);
    cw_line(w, "memcpy(xf_p, xf_m->w[xf_kept[xf_i].w], (size_t)xf_kept[xf_i].floats * sizeof(float));");
    cw_line(w, "xfrt_wf_apply(xf_p, (size_t)xf_kept[xf_i].floats, xf_kept[xf_i].cols, xf_kept[xf_i].fmt);");
    cw_line(w, "xf_m->w[xf_kept[xf_i].w] = xf_p;");
    cw_line(w, "xf_p += (xf_kept[xf_i].floats + 15) / 16 * 16;");
    cw_close(w, NULL);
    cw_close(w, NULL);
    cw_line(w, "for (int xf_i = 0; xf_i < %d; xf_i++)", nm);
    cw_line(w, "    if ((xf_raw[xf_mats[xf_i].w]");
    cw_line(w, "            ? xfrt_mat_pack_bf16(&xf_m->mat[xf_i], xf_raw[xf_mats[xf_i].w], xf_mats[xf_i].experts,");
    cw_line(w, "                                 xf_mats[xf_i].rows, xf_mats[xf_i].cols, xf_mats[xf_i].panels ? XFRT_NR : 1)");
    cw_line(w, "            : xfrt_mat_pack(&xf_m->mat[xf_i], xf_m->w[xf_mats[xf_i].w], xf_mats[xf_i].experts,");
    cw_line(w, "                            xf_mats[xf_i].rows, xf_mats[xf_i].cols, xf_mats[xf_i].fmt,");
    cw_line(w, "                            xf_mats[xf_i].panels ? XFRT_NR : 1)) != 0) {");
    cw_line(w, "        snprintf(xf_err, xf_err_size, \"%s_open: out of memory\");", N);
    cw_line(w, "        goto xf_fail;");
    cw_line(w, "    }");
    if (nm) {
        cw_line(w, "/* the products' workspace, one slice per thread this process runs with */");
        cw_open(w, "if (xfrt_gemm_ws_attach(xf_m->mat, %d, &xf_m->gemm_ws) != 0)", nm);
        cw_line(w, "snprintf(xf_err, xf_err_size, \"%s_open: out of memory\");", N);
        cw_line(w, "goto xf_fail;");
        cw_close(w, NULL);
    }
    cw_line(w, "xfrt_st_close(&xf_m->st);");
    cw_line(w, "for (int xf_i = 0; xf_i < %d; xf_i++)", nw);
    cw_line(w, "    xf_m->w[xf_i] = NULL;");
    cw_open(w, "%s", "");
    cw_line(w, "float *xf_q = xf_m->wmem;");
    cw_open(w, "for (int xf_i = 0; xf_i < %d; xf_i++)", nk);
    cw_line(w, "xf_m->w[xf_kept[xf_i].w] = xf_q;");
    cw_line(w, "xf_q += (xf_kept[xf_i].floats + 15) / 16 * 16;");
    cw_close(w, NULL);
    cw_close(w, NULL);
    cw_line(w, "xf_m->arena = (unsigned char *)aligned_alloc(64, %lld);",
            (long long)((g->plan.arena_bytes + 63) / 64 * 64 + 64));
    cw_line(w, "xf_m->kv_mem = (float *)calloc(%lld, sizeof(float));",
            (long long)(2 * g->context * kv_floats + 1));
    cw_line(w, "xf_m->kv_pos = (int32_t *)calloc(%lld, sizeof(int32_t));",
            (long long)(g->context * (g->n_layers_kv ? g->n_layers_kv : 1)));
    cw_open(w, "if (!xf_m->arena || !xf_m->kv_mem || !xf_m->kv_pos)");
    cw_line(w, "snprintf(xf_err, xf_err_size, \"%s_open: out of memory\");", N);
    cw_line(w, "goto xf_fail;");
    cw_close(w, NULL);
    for (int i = 0; i < c->n_rope; i++) {
        /* head_dim is even under RoPE (sema) */
        cw_line(w, "xf_m->rope[%d] = (double *)malloc(sizeof(double) * %lld);", i,
                (long long)(g->context * (c->rope_hd[i] / 2 * 2)));
        cw_open(w, "if (!xf_m->rope[%d])", i);
        cw_line(w, "snprintf(xf_err, xf_err_size, \"%s_open: out of memory\");", N);
        cw_line(w, "goto xf_fail;");
        cw_close(w, NULL);
        char base[40];
        snprintf(base, sizeof base, "%.17g", c->rope_base[i]);
        if (!strpbrk(base, ".eE"))
            strcat(base, ".0");
        cw_line(w, "xfrt_rope_table(xf_m->rope[%d], %lld, %lld, %s);", i, (long long)g->context,
                (long long)c->rope_hd[i], base);
    }
    cw_line(w, "float *xf_kv = xf_m->kv_mem;");
    cw_open(w, "for (int xf_i = 0; xf_i < %d; xf_i++)", g->n_layers_kv);
    cw_line(w, "xf_m->kv[xf_i].k = xf_kv;");
    cw_line(w, "xf_m->kv[xf_i].v = xf_kv + (size_t)%lld * xf_kv_dim[xf_i];", (long long)g->context);
    cw_line(w, "xf_kv += (size_t)%lld * 2 * xf_kv_dim[xf_i];", (long long)g->context);
    cw_line(w, "xf_m->kv[xf_i].pos = xf_m->kv_pos + (size_t)%lld * xf_i;", (long long)g->context);
    cw_line(w, "xf_m->kv[xf_i].cap = %lld;", (long long)g->context);
    cw_line(w, "xf_m->kv[xf_i].kv_dim = xf_kv_dim[xf_i];");
    cw_close(w, NULL);
    cw_line(w, "%s_reset(xf_m);", N);
    cw_line(w, "return xf_m;");
    cw_line(w, "xf_fail:");
    cw_line(w, "%s_close(xf_m);", N);
    cw_line(w, "return NULL;");
    cw_close(w, NULL);
    cw_blank(w);
    cw_open(w, "int %s_forward(%s *m, const int32_t *tokens, int n, float *logits)", N, N);
    cw_line(w, "if (!m || !tokens || !logits || n < 1 || n > %lld)", (long long)g->context);
    cw_line(w, "    return %s_ERR_ARG;", N);
    cw_line(w, "for (int i = 0; i < n; i++)");
    cw_line(w, "    if (tokens[i] < 0 || tokens[i] >= %lld)", (long long)g->vocab);
    cw_line(w, "        return %s_ERR_TOKEN;", N);
    cw_line(w, "%s_reset(m);", N);
    cw_line(w, "xf_run(m, tokens, n, 0, logits);");
    cw_line(w, "m->n_past = n;");
    cw_line(w, "return 0;");
    cw_close(w, NULL);
    cw_blank(w);
    cw_open(w, "int %s_decode(%s *m, int32_t token, float *logits)", N, N);
    cw_line(w, "if (!m || !logits)");
    cw_line(w, "    return %s_ERR_ARG;", N);
    if (!g->has_decode) {
        cw_line(w, "(void)token;");
        cw_line(w, "return %s_ERR_NO_DECODE;   /* bidirectional attention: no causal decode */", N);
    } else {
        cw_line(w, "if (token < 0 || token >= %lld)", (long long)g->vocab);
        cw_line(w, "    return %s_ERR_TOKEN;", N);
        cw_line(w, "if (m->n_past >= %lld)", (long long)g->context);
        cw_line(w, "    return %s_ERR_FULL;", N);
        cw_line(w, "xf_run(m, &token, 1, 1, logits);");
        cw_line(w, "m->n_past++;");
        cw_line(w, "return 0;");
    }
    cw_close(w, NULL);
}

/* any op whose kernels live in runtime/kernels_route.c (the kernels column of ops.def) */
static bool uses_route(const XfGraph *g)
{
    for (XfId id = 1; id <= g->n_nodes; id++)
        if (xf_op_info[g->nodes[id].op].kernels == XF_KERNELS_ROUTE)
            return true;
    return false;
}

/* The name of the header, as the C file #includes it: a header name has no
 * escapes, so bytes it cannot hold make the output name unusable. */
static bool include_name_ok(const char *base, char *err, size_t err_size)
{
    for (const unsigned char *p = (const unsigned char *)base; *p; p++)
        if (*p == '"' || *p == '\\' || *p < 0x20 || *p == 0x7f || (*p == '?' && p[1] == '?')) {
            snprintf(err, err_size, "output file name '%s' cannot be #included by the generated C "
                     "(it contains '\"', '\\', '?\?' or a control character)", base);
            return false;
        }
    return true;
}

bool cg_model_emit(const XfGraph *g, const char *out_c, const XfCgOptions *opt, XfStrBuf *c_text,
                   XfStrBuf *h_text, char *err, size_t err_size)
{
    XF_ASSERT(g->plan.done);
    const char *out_base = base_name(out_c);
    size_t ob_len = strlen(out_base);
    if (ob_len < 3 || strcmp(out_base + ob_len - 2, ".c") != 0) {
        snprintf(err, err_size, "output file name '%s' does not end in .c", out_base);
        return false;
    }
    if (!include_name_ok(out_base, err, err_size))
        return false;
    /* the runtime takes sizes as int; refuse what does not fit rather than truncate */
    for (XfId id = 1; id <= g->n_nodes; id++) {
        const XfNode *x = &g->nodes[id];
        for (int i = 0; i < x->shape.rank; i++)
            if (x->shape.dim[i] > INT32_MAX) {
                snprintf(err, err_size, "%s:%u:%u: a tensor of this sublayer has a dimension "
                         "of %lld, more than the generated code supports (2147483647)",
                         g->src_path, x->loc.line, x->loc.col, (long long)x->shape.dim[i]);
                return false;
            }
    }
    CWriter w = {0};
    char *src_base = comment_text(base_name(g->src_path)), *src_lit = c_string_text(g->src_path);
    char *out_lit = c_string_text(out_base);
    char *cmdline = comment_text(opt->command_line ? opt->command_line : "xfc");
    CgCtx c = {.g = g, .opt = opt, .w = &w, .name = g->model_name, .src_base = src_base,
               .src_path_lit = src_lit, .out_base = out_base, .out_base_lit = out_lit};
    c.weight_index = xf_xmalloc((g->n_nodes + 1) * sizeof *c.weight_index);
    collect_rope(&c);
    int k = 0;
    for (XfId id = 0; id <= g->n_nodes; id++)
        c.weight_index[id] = id && g->nodes[id].op == XF_OP_WEIGHT ? k++ : -1;
    c.weight_use = xf_xmalloc(g->n_nodes + 1);
    cg_weight_uses(g, c.weight_use);
    c.mat_index = xf_xmalloc((g->n_nodes + 1) * sizeof *c.mat_index);
    k = 0;
    for (XfId id = 0; id <= g->n_nodes; id++)
        c.mat_index[id] = id && g->nodes[id].op == XF_OP_WEIGHT &&
                                  (c.weight_use[id] & (CG_USE_PRODUCT | CG_USE_EMBED))
                              ? k++ : -1;

    cw_line(&w, "/* %s.c - generated by xfc %s from %s; do not edit.", c.name, XF_VERSION, c.src_base);
    cw_line(&w, " *   %s", cmdline);
    cw_line(&w, " * Model %s: vocab %lld, dim %lld, context %lld.  Standalone C11: needs libc, libm",
            c.name, (long long)g->vocab, (long long)g->dim, (long long)g->context);
    cw_line(&w, " * and, optionally, OpenMP (-fopenmp; OMP_NUM_THREADS). */");
    cw_line(&w, "#define _POSIX_C_SOURCE 200809L");
    cw_line(&w, "/* the runtime is embedded: its dense and attention kernels always, the routing");
    cw_line(&w, " * kernels (MoE, MoD, sparse FFN) when the model routes */");
    if (!uses_route(g))
        cw_line(&w, "#define XFRT_NO_ROUTE 1");
    cw_line(&w, "#if defined(__GNUC__) || defined(__clang__)");
    cw_line(&w, "#define XFRT_API static inline __attribute__((unused))");
    cw_line(&w, "#else");
    cw_line(&w, "#define XFRT_API static inline");
    cw_line(&w, "#endif");
    cw_line(&w, "#include <stdio.h>");
    cw_line(&w, "#include <stdlib.h>");
    /* the header is named after the output file (-o out/foo.c writes out/foo.h) */
    cw_line(&w, "#include \"%.*s.h\"", (int)(strlen(c.out_base) - 2), c.out_base);
    cw_blank(&w);
    /* the runtime, without kernels_route.c when nothing routes */
    bool route = uses_route(g);
    bool skip = false;
    for (int i = 0; xf_runtime_lines[i]; i++) {
        const char *l = xf_runtime_lines[i];
        if (!strncmp(l, "/* ---- runtime/", 16))
            skip = !route && !strncmp(l + 16, "kernels_route.c ", 16);
        if (!skip)
            cw_raw(&w, l);
    }
    cw_blank(&w);
    cw_line(&w, "/* ---- memory plan (pass memplan): byte offsets into the arena ---- */");
    for (XfId id = 1; id <= g->n_nodes; id++)
        if (g->plan.offset[id] >= 0)
            cw_line(&w, "#define XF_OFF_T%-5u %lld   /* %lld bytes */", id, (long long)g->plan.offset[id],
                    (long long)g->plan.size[id]);
    cw_blank(&w);
    emit_api(&c);

    emit_header(&c, h_text);
    *c_text = w.buf;
    free(c.weight_index);
    free(c.rope_hd);
    free(c.rope_base);
    free(c.weight_use);
    free(c.mat_index);
    free(src_base);
    free(src_lit);
    free(out_lit);
    free(cmdline);
    return true;
}

bool cg_model_write(const XfGraph *g, const char *out_c, const XfCgOptions *opt, char *err,
                    size_t err_size)
{
    XfStrBuf c_text = {0}, h_text = {0};
    if (!cg_model_emit(g, out_c, opt, &c_text, &h_text, err, err_size))
        return false;
    size_t n = strlen(out_c);
    char *out_h = xf_xmalloc(n + 1);
    memcpy(out_h, out_c, n + 1);
    out_h[n - 1] = 'h';
    /* both files or neither: an existing OUT.h or OUT.c survives any failure */
    const char *paths[2] = {out_h, out_c};
    const void *data[2] = {h_text.data, c_text.data};
    size_t sizes[2] = {h_text.len, c_text.len};
    bool ok = xf_write_files_atomic(2, paths, data, sizes, err, err_size);
    free(out_h);
    xf_sb_free(&h_text);
    xf_sb_free(&c_text);
    return ok;
}
