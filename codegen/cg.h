/* cg.h - codegen internals shared by the writer, the module skeleton and the
 * per-family emitters.  Not installed; main.c sees only codegen.h. */
#ifndef XF_CG_H
#define XF_CG_H

#include "codegen.h"

/* ---- writer.c: all generated text goes through here ---------------------- */
typedef struct {
    XfStrBuf buf;
    int      indent;
    long     line;              /* lines written so far (for #line) */
} CWriter;

void cw_line(CWriter *w, const char *fmt, ...) XF_PRINTF(2, 3);
void cw_open(CWriter *w, const char *fmt, ...) XF_PRINTF(2, 3);   /* "... {" and indent */
void cw_close(CWriter *w, const char *tail);                       /* dedent, "}" + tail */
void cw_blank(CWriter *w);
void cw_raw(CWriter *w, const char *text);                         /* verbatim, no indent */
void cw_free(CWriter *w);

/* ---- module.c: what emitters may ask about the model --------------------- */
typedef struct {
    const XfGraph     *g;
    const XfCgOptions *opt;
    CWriter           *w;
    const char        *name;     /* model name = API prefix */
    const char        *src_base; /* basename of the .xf file, safe inside a comment */
    const char        *src_path_lit;  /* the .xf path, escaped for a string literal (#line) */
    const char        *out_base; /* basename of the .c being written */
    const char        *out_base_lit;  /* the same, escaped for #line */
    int32_t           *weight_index;  /* [n_nodes+1]: slot in m->w[], -1 if not a weight */
    int                n_rope;    /* RoPE tables m->rope[i]: one per distinct (head_dim, base) */
    int64_t           *rope_hd;
    double            *rope_base;
    int32_t           *mat_index;     /* [n_nodes+1]: slot in m->mat[] (a matrix a product or the
                                       * embedding reads: XfrtMat), -1 if none */
    uint8_t           *weight_use;    /* [n_nodes+1]: CG_USE_* bits of each weight */
    char               ring[16][48];  /* short names handed out by cg_fmt */
    int                ring_next;
} CgCtx;

/* A short formatted name valid for the next 15 calls (for use inside one cw_line). */
const char *cg_fmt(CgCtx *c, const char *fmt, ...) XF_PRINTF(2, 3);

/* how the generated code reads a weight: CG_USE_PRODUCT and CG_USE_EMBED
 * through its XfrtMat (packed panels, or rows for an embedding-only table),
 * CG_USE_FLOAT through a plain fp32 pointer */
enum { CG_USE_PRODUCT = 1, CG_USE_EMBED = 2, CG_USE_FLOAT = 4 };
void        cg_weight_uses(const XfGraph *g, uint8_t *use);
const char *cg_mat(CgCtx *c, XfId id);          /* "t12m": the XfrtMat * of weight t12 */

const char *cg_float(CgCtx *c, double v);      /* a valid float literal: "0.0f", "1e-05f" */
const char *cg_var(CgCtx *c, XfId id);          /* "t12", or "logits" for the output */
const char *cg_rows(CgCtx *c, XfId id);         /* runtime row count of id's stream: "n", "k3" */
const char *cg_stream_rows(CgCtx *c, int stream);
/* "float *t12 = (float *)(A + XF_OFF_T12);" for a node with an arena buffer */
void        cg_decl(CgCtx *c, XfId id);
int64_t     cg_last_dim(CgCtx *c, XfId id);
/* i such that m->rope[i] is the RoPE table of (head_dim, base), g->context positions */
int         cg_rope_index(CgCtx *c, int64_t head_dim, double base);

typedef void (*CgEmitFn)(CgCtx *c, XfId id);

/* ---- emit_*.c: one emitter per op (named in ir/ops.def) ----------------- */
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) void emit(CgCtx *c, XfId id);
#include "../ir/ops.def"
#undef XF_OP

/* emit_route.c: a fused group over routed rows (emit_fused): the combine
 * fields of its output, and its call (false: a dense group, not routed) */
void emit_fused_combine_fields(CgCtx *c, XfId id);
bool emit_fused_route_call(CgCtx *c, XfId id);

#endif
