/* passes.h - the pass pipeline over the IR. */
#ifndef XF_PASSES_H
#define XF_PASSES_H

#include "../ir/ir.h"

/* Per-block and whole-model costs, filled by pass_stats. */
typedef struct {
    double flops;               /* per token of a full-context forward, as routed */
    double flops_dense;         /* the same without routing: MoD on every token, MoE on every expert */
    double params;              /* parameters in this block */
    double params_active;       /* of which one token touches on average */
} XfCost;

/* The work of one call of the generated code (pass stats, after sched). */
typedef struct {
    double kernels;             /* runtime kernel calls */
    double regions;             /* OpenMP parallel regions opened */
    double barriers;            /* points where all threads meet (the region's end included) */
    double bytes_written;       /* activation bytes kernels write (no weights, no KV cache) */
    double bytes_read;          /* activation bytes kernels read, each operand once per call */
} XfWork;

typedef struct {
    XfCost  total;
    XfWork  forward;            /* one full-context forward (T = context) */
    XfWork  decode;             /* one decode step (a MoD instance counted as entered) */
    XfCost *block;              /* [n_blocks] (heap) */
    int     n_blocks;
    XfCost  outside;            /* embeddings, final norm, lm_head */
} XfStats;

typedef struct {
    XfArena    *scratch;        /* reset after every pass */
    FILE       *err;            /* diagnostics (stderr) */
    XfDiag     *diag;           /* the .xf source's, for located errors; NULL: plain to err */
    const char *dump_after;     /* comma-separated pass names, or "all"; NULL for none */
    FILE       *dump_out;
    bool        verify;         /* run ir_verify after each pass */
    bool        no_fuse;        /* pass fuse leaves the graph as it is (--no-fuse) */
    XfStats     stats;
} XfPassCtx;

typedef bool (*XfPassFn)(XfGraph *g, XfPassCtx *cx);

typedef struct {
    const char *name;
    XfPassFn    fn;
    const char *what;
} XfPassInfo;

/* ---- manager.c ---------------------------------------------------------- */
extern const XfPassInfo xf_passes[];
extern const int        xf_n_passes;
bool pass_pipeline_run(XfGraph *g, XfPassCtx *cx);
bool pass_name_known(const char *name);
void pass_ctx_free(XfPassCtx *cx);
/* A user error found by a pass, at loc in the .xf file: through cx->diag
 * (source line and caret) when there is one. */
void pass_error(XfPassCtx *cx, const XfGraph *g, XfLoc loc, const char *fmt, ...) XF_PRINTF(4, 5);

/* ---- one file each -------------------------------------------------------- */
bool pass_shape(XfGraph *g, XfPassCtx *cx);      /* shape.c */
bool pass_topk_plan(XfGraph *g, XfPassCtx *cx);  /* topk_plan.c */
bool pass_fuse(XfGraph *g, XfPassCtx *cx);       /* fuse.c */
bool pass_dce(XfGraph *g, XfPassCtx *cx);        /* dce.c */
bool pass_memplan(XfGraph *g, XfPassCtx *cx);    /* memplan.c */
bool pass_sched(XfGraph *g, XfPassCtx *cx);      /* sched.c */
bool pass_stats(XfGraph *g, XfPassCtx *cx);      /* stats.c */

/* stats.c: FLOPs per output row of one node (the flops column of ops.def) */
double pass_stats_node_flops(const XfGraph *g, const XfNode *x, bool dense);
/* stats.c: rows of stream s per token (a MoD's k/T, a MoE's assignments/T;
 * dense: as if nothing were routed) */
double pass_stats_rate(const XfGraph *g, uint32_t s, bool dense);
/* stats.c: prints the table that `xfc --stats` shows; the weights line in
 * format wf (--weights) */
void pass_stats_print(const XfGraph *g, const XfStats *st, XfWeightFormat wf, FILE *out);

#endif
