/* fuzz_frontend.c - libFuzzer target: .xf text through the whole compiler.
 *
 * Parse, check, lower, run every pass (with the verifier), dump the IR and
 * the stats, and generate the C and the header in memory.  Any crash,
 * sanitizer report, internal error (abort) or leak is a bug: bad input must
 * only ever produce diagnostics.  Diagnostics go to /dev/null. */
#include <stdlib.h>
#include <string.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

/* Generating C for the largest graphs (65536 block instances) takes seconds
 * and proves nothing new; the passes still run on them. */
#define FUZZ_MAX_CODEGEN_NODES 20000

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");
    char *src = malloc(size + 1);
    memcpy(src, data, size);
    src[size] = '\0';
    XfArena *a = xf_arena_new();
    XfDiag d;
    xf_diag_init(&d, "fuzz.xf", src, size, sink);
    XfModelDesc *m = fe_model_parse(a, &d, src, size);
    if (m && d.n_errors == 0) {
        XfGraph *g = fe_model_lower(m, "fuzz.xf");
        XfPassCtx cx = {.err = sink, .dump_out = sink, .verify = true};
        if (!ir_verify(g, sink))
            abort();            /* lowering built an invalid graph */
        if (pass_pipeline_run(g, &cx)) {
            XfWeightFormat wf = (XfWeightFormat)(size % 3);    /* each format, by input */
            pass_stats_print(g, &cx.stats, wf, sink);
            if (g->n_nodes <= FUZZ_MAX_CODEGEN_NODES) {
                ir_graph_dump(g, sink);
                XfCgOptions opt = {.weights = wf, .command_line = "xfc fuzz.xf",
                                   .line_directives = true};
                XfStrBuf c = {0}, h = {0};
                char err[512];
                if (cg_model_emit(g, "out/fuzz.c", &opt, &c, &h, err, sizeof err))
                    fwrite(c.data, 1, c.len < 64 ? c.len : 64, sink);
                xf_sb_free(&c);
                xf_sb_free(&h);
            }
        }
        pass_ctx_free(&cx);
        ir_graph_free(g);
    }
    xf_arena_free(a);
    free(src);
    return 0;
}
