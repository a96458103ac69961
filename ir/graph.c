/* graph.c - the node arena, the op table and stream bookkeeping. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "shape_rules.h"

const XfOpInfo xf_op_info[XF_OP_COUNT] = {
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) \
    [XF_OP_##e] = {text, min_in, max_in, shape, XF_FUSE_##fuse, XF_STREAM_##stream, XF_MEM_##mem, calls, syncs, \
                   XF_KERNELS_##kernels},
#include "ops.def"
#undef XF_OP
};
_Static_assert(sizeof xf_op_info / sizeof xf_op_info[0] == XF_OP_COUNT, "op table length");

static const char *const act_names[XF_ACT_COUNT] = {
    [XF_ACT_RELU] = "relu",     [XF_ACT_RELU2] = "relu2",   [XF_ACT_GELU] = "gelu",
    [XF_ACT_GELU_TANH] = "gelu_tanh", [XF_ACT_SILU] = "silu", [XF_ACT_SWIGLU] = "swiglu",
    [XF_ACT_GEGLU] = "geglu",
};

const char *ir_act_name(XfAct a) { return a < XF_ACT_COUNT ? act_names[a] : "?"; }
bool ir_act_gated(XfAct a) { return a == XF_ACT_SWIGLU || a == XF_ACT_GEGLU; }
XfAct ir_act_inner(XfAct a)
{
    return a == XF_ACT_SWIGLU ? XF_ACT_SILU : a == XF_ACT_GEGLU ? XF_ACT_GELU : a;
}

const char *ir_node_name(const XfNode *x)
{
    return x->op == XF_OP_FUSED && x->attr.fuse ? x->attr.fuse->name : xf_op_info[x->op].name;
}

XfId ir_buffer_of(const XfGraph *g, XfId id)
{
    while (xf_op_info[g->nodes[id].op].mem == XF_MEM_ALIAS)
        id = g->nodes[id].in[0];
    return id;
}

XfGraph *ir_graph_new(void)
{
    XfGraph *g = xf_xcalloc(1, sizeof *g);
    g->arena = xf_arena_new();
    g->cap_nodes = 256;
    g->nodes = xf_xcalloc(g->cap_nodes, sizeof(XfNode));
    g->cap_streams = 16;
    g->streams = xf_xcalloc(g->cap_streams, sizeof(XfStream));
    g->n_streams = 2;           /* [1]: the tokens of the call */
    g->streams[1].kind = XF_STREAM_TOKENS;
    g->cur_block = g->cur_sub = -1;
    return g;
}

void ir_graph_free(XfGraph *g)
{
    if (!g)
        return;
    free(g->nodes);
    free(g->streams);
    free(g->plan.offset);
    free(g->plan.size);
    xf_arena_free(g->arena);
    free(g);
}

int ir_stream_add(XfGraph *g, XfStreamKind kind, int parent)
{
    if (g->n_streams == g->cap_streams) {
        g->cap_streams *= 2;
        g->streams = xf_xrealloc(g->streams, g->cap_streams * sizeof(XfStream));
    }
    int s = (int)g->n_streams++;
    memset(&g->streams[s], 0, sizeof g->streams[s]);
    g->streams[s].kind = kind;
    g->streams[s].parent = (uint32_t)parent;
    return s;
}

static XfId node_new(XfGraph *g, XfOp op, XfLoc loc)
{
    if (g->n_nodes + 1 >= g->cap_nodes) {
        g->cap_nodes *= 2;
        g->nodes = xf_xrealloc(g->nodes, g->cap_nodes * sizeof(XfNode));
    }
    XfId id = ++g->n_nodes;
    XfNode *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->loc = loc;
    n->block = g->cur_block;
    n->sub = g->cur_sub;
    n->label = g->cur_label;
    return id;
}

XfId ir_node_add(XfGraph *g, XfOp op, const XfId *in, int n_in, const XfAttrs *attr, XfLoc loc)
{
    const XfOpInfo *info = &xf_op_info[op];
    XF_ASSERT(n_in >= info->min_in && n_in <= info->max_in);
    XfId id = node_new(g, op, loc);
    XfNode *n = &g->nodes[id];
    n->n_in = (uint8_t)n_in;
    for (int i = 0; i < n_in; i++) {
        XF_ASSERT(in[i] > 0 && in[i] < id);
        n->in[i] = in[i];
    }
    if (attr)
        n->attr = *attr;
    if (info->stream != XF_STREAM_NONE) {
        int parent = g->nodes[in[0]].shape.stream;
        int s = ir_stream_add(g, info->stream, parent);
        g->streams[s].def = id;
        g->nodes[id].def_stream = (uint32_t)s;
        g->streams[s].capacity = n->attr.capacity;
        g->streams[s].experts = n->attr.experts;
        g->streams[s].top_k = n->attr.top_k;
    }
    char err[256];
    if (!ir_shape_infer_node(g, id, err, sizeof err))
        xf_internal_error(__FILE__, __LINE__, err);
    return id;
}

XfId ir_weight_add(XfGraph *g, const char *name, int rank, const int64_t *dims, XfLoc loc)
{
    XF_ASSERT(rank >= 1 && rank <= XF_MAX_RANK);
    XfId id = node_new(g, XF_OP_WEIGHT, loc);
    XfNode *n = &g->nodes[id];
    n->attr.name = xf_arena_strdup(g->arena, name);
    n->dtype = XF_F32;
    n->shape.rank = (uint8_t)rank;
    for (int i = 0; i < rank; i++)
        n->shape.dim[i] = dims[i];
    return id;
}

int64_t ir_shape_elems(const XfShape *s)
{
    int64_t e = 1;
    for (int i = 0; i < s->rank; i++)
        if (xf_mul_overflow(e, s->dim[i], &e))
            return INT64_MAX;
    return e;
}

bool ir_shape_equal(const XfShape *a, const XfShape *b)
{
    if (a->rank != b->rank || a->stream != b->stream)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return false;
    return true;
}

int64_t ir_node_bytes(const XfGraph *g, XfId id)
{
    const XfNode *n = &g->nodes[id];
    if (n->dtype == XF_ROUTE) {
        int64_t rows = n->shape.dim[0], E = n->attr.experts, k = n->attr.top_k, a, b, sum;
        /* XFRT_ROUTE_BYTES: 4 * (E + 1 + 3 * rows * k + rows * E) */
        if (xf_mul_overflow(rows, k, &a) || xf_mul_overflow(a, 3, &a) ||
            xf_mul_overflow(rows, E, &b) || xf_add_overflow(a, b, &sum) ||
            xf_add_overflow(sum, E + 1, &sum) || xf_mul_overflow(sum, 4, &sum))
            return INT64_MAX;
        return sum;
    }
    int64_t e = ir_shape_elems(&n->shape), bytes;
    return xf_mul_overflow(e, 4, &bytes) ? INT64_MAX : bytes;
}
