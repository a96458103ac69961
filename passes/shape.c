/* shape.c - pass "shape": re-infers every node's shape from its inputs with
 * the op table's rules, in id order (inputs precede users).
 * Entry: any graph.  Exit: every stored shape equals its rule's result, or an
 * error naming the node and its .xf location was reported. */
#include "passes.h"

bool pass_shape(XfGraph *g, XfPassCtx *cx)
{
    bool ok = true;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        XfNode *n = &g->nodes[id];
        char err[256];
        if (!ir_shape_infer_node(g, id, err, sizeof err)) {
            fprintf(cx->err, "%s:%u:%u: error: t%u %s: %s\n", g->src_path, n->loc.line, n->loc.col,
                    id, xf_op_info[n->op].name, err);
            ok = false;
        }
    }
    return ok;
}
