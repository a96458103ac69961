/* verify.c - graph invariants.  Passes may break nothing listed here. */
#include <string.h>

#include "ir.h"

#define BAD(...) (fprintf(err, "ir verify: t%u %s: ", id, xf_op_info[n->op].name), \
                  fprintf(err, __VA_ARGS__), fputc('\n', err), ok = false)

bool ir_verify(XfGraph *g, FILE *err)
{
    bool ok = true;
    int n_out = 0;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        XfNode *n = &g->nodes[id];
        if (n->op >= XF_OP_COUNT) {
            fprintf(err, "ir verify: t%u: bad op %d\n", id, (int)n->op);
            ok = false;
            continue;
        }
        const XfOpInfo *info = &xf_op_info[n->op];
        if (n->n_in < info->min_in || n->n_in > info->max_in)
            BAD("%d inputs, expected %d..%d", n->n_in, info->min_in, info->max_in);
        bool inputs_ok = true;
        for (int i = 0; i < n->n_in; i++) {
            XfId in = n->in[i];
            if (in == 0 || in >= id) {
                BAD("input %d is t%u, which does not precede it", i, in);
                inputs_ok = false;
            }
        }
        if (n->shape.stream >= g->n_streams)
            BAD("stream s%u does not exist", n->shape.stream);
        else if (n->shape.stream > 1 && g->streams[n->shape.stream].def >= id &&
                 g->streams[n->shape.stream].def != id)
            BAD("uses stream s%u before its definition", n->shape.stream);
        if (n->op == XF_OP_WEIGHT && (!n->attr.name || !*n->attr.name))
            BAD("weight without a name");
        if (n->flags & XF_NODE_OUTPUT)
            n_out++;
        if (!inputs_ok)
            continue;
        /* the stored shape must be what the rule gives now */
        XfShape saved = n->shape;
        XfDtype saved_dt = n->dtype;
        char msg[256];
        if (!ir_shape_infer_node(g, id, msg, sizeof msg)) {
            BAD("%s", msg);
        } else if (!ir_shape_equal(&saved, &n->shape) || saved_dt != n->dtype) {
            char a[96], b[96];
            ir_shape_str(g, &saved, saved_dt, a, sizeof a);
            ir_shape_str(g, &n->shape, n->dtype, b, sizeof b);
            BAD("shape %s, but its rule gives %s", a, b);
        }
        n->shape = saved;
        n->dtype = saved_dt;
    }
    for (uint32_t s = 2; s < g->n_streams; s++) {
        XfId d = g->streams[s].def;
        if (d == 0 || d > g->n_nodes || g->streams[s].parent >= s) {
            fprintf(err, "ir verify: stream s%u has no valid definition\n", s);
            ok = false;
        }
    }
    if (n_out != 1 || !g->logits || !(g->nodes[g->logits].flags & XF_NODE_OUTPUT)) {
        fprintf(err, "ir verify: expected exactly one output (the logits), found %d\n", n_out);
        ok = false;
    }
    return ok;
}
