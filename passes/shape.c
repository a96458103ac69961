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
            pass_error(cx, g, n->loc, "shapes do not fit here (%s): %s", xf_op_info[n->op].name,
                       err);
            ok = false;
        }
    }
    return ok;
}
