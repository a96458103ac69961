/* manager.c - the ordered pass table; dumps and verification between passes. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

const XfPassInfo xf_passes[] = {
    {"shape",     pass_shape,     "re-infer and check every shape from the op table's rules"},
    {"topk-plan", pass_topk_plan, "static bounds for every MoD k and MoE assignment count"},
    {"fuse",      pass_fuse,      "fused groups: norm prologues, sibling projections, epilogues"},
    {"dce",       pass_dce,       "drop nodes the logits do not depend on; renumber"},
    {"memplan",   pass_memplan,   "one activation arena, offsets by liveness"},
    {"sched",     pass_sched,     "barriers between kernels only where a dependency needs one"},
    {"stats",     pass_stats,     "parameters and FLOPs per token, per block"},
};
const int xf_n_passes = (int)(sizeof xf_passes / sizeof xf_passes[0]);

bool pass_name_known(const char *name)
{
    if (!strcmp(name, "all"))
        return true;
    for (int i = 0; i < xf_n_passes; i++)
        if (!strcmp(name, xf_passes[i].name))
            return true;
    return false;
}

static bool wanted(const char *list, const char *name)
{
    if (!list)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if ((len == 3 && !strncmp(p, "all", 3)) || (len == n && !strncmp(p, name, n)))
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

bool pass_pipeline_run(XfGraph *g, XfPassCtx *cx)
{
    if (!cx->scratch)
        cx->scratch = xf_arena_new();
    for (int i = 0; i < xf_n_passes; i++) {
        bool ok = xf_passes[i].fn(g, cx);
        xf_arena_reset(cx->scratch);
        if (!ok)
            return false;
        if (cx->verify && !ir_verify(g, cx->err)) {
            fprintf(cx->err, "xfc: internal error: IR invalid after pass %s\n", xf_passes[i].name);
            return false;
        }
        if (wanted(cx->dump_after, xf_passes[i].name)) {
            fprintf(cx->dump_out, "# ---- after pass %s ----\n", xf_passes[i].name);
            ir_graph_dump(g, cx->dump_out);
        }
    }
    return true;
}

void pass_error(XfPassCtx *cx, const XfGraph *g, XfLoc loc, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cx->diag)
        xf_diag_error(cx->diag, loc, "%s", msg);
    else
        fprintf(cx->err, "%s:%u:%u: error: %s\n", g->src_path, loc.line, loc.col, msg);
}

void pass_ctx_free(XfPassCtx *cx)
{
    xf_arena_free(cx->scratch);
    cx->scratch = NULL;
    free(cx->stats.block);
    cx->stats.block = NULL;
}
