/* dce.c - pass "dce": dead-code elimination and compaction.
 * Entry: any verified graph.  Exit: only nodes the logits depend on remain
 * (KV-cache writes are attention's outputs, so they are kept with it), ids are
 * renumbered densely in the same order, streams and inputs are remapped. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

bool pass_dce(XfGraph *g, XfPassCtx *cx)
{
    (void)cx;
    uint32_t n = g->n_nodes;
    bool *live = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *live);
    XfId *remap = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *remap);
    for (XfId id = 1; id <= n; id++)
        if (g->nodes[id].flags & XF_NODE_OUTPUT)
            live[id] = true;
    for (XfId id = n; id >= 1; id--) {
        if (!live[id])
            continue;
        const XfNode *x = &g->nodes[id];
        for (int i = 0; i < x->n_in; i++)
            live[x->in[i]] = true;
    }
    XfId next = 0;
    for (XfId id = 1; id <= n; id++) {
        if (!live[id])
            continue;
        remap[id] = ++next;
        XfNode x = g->nodes[id];
        for (int i = 0; i < x.n_in; i++)
            x.in[i] = remap[x.in[i]];
        g->nodes[next] = x;
    }
    g->n_nodes = next;
    g->logits = remap[g->logits];
    /* drop streams whose definition died, keeping the rest in order */
    uint32_t *smap = xf_arena_alloc(cx->scratch, g->n_streams * sizeof *smap);
    smap[1] = 1;
    uint32_t ns = 2;
    for (uint32_t s = 2; s < g->n_streams; s++) {
        if (!remap[g->streams[s].def])
            continue;
        smap[s] = ns;
        g->streams[ns] = g->streams[s];
        g->streams[ns].def = remap[g->streams[s].def];
        g->streams[ns].parent = smap[g->streams[s].parent];
        ns++;
    }
    g->n_streams = ns;
    for (XfId id = 1; id <= g->n_nodes; id++) {
        g->nodes[id].shape.stream = smap[g->nodes[id].shape.stream];
        g->nodes[id].def_stream = smap[g->nodes[id].def_stream];
    }
    return true;
}
