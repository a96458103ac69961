/* frontend.h - the .xf language: parse, check, and lower to IR.
 *
 * fe_model_parse turns source text into a checked XfModelDesc: every SPEC 2
 * default applied, every error reported through XfDiag, the layer list fully
 * expanded (NAME * N and repeat unrolled, inline sublayers made one-sublayer
 * blocks), so block instance b and sublayer s are exactly SPEC 4's numbering.
 * fe_model_lower builds the IR graph from a checked description. */
#ifndef XF_FRONTEND_H
#define XF_FRONTEND_H

#include "../ir/ir.h"

typedef struct {
    XfNormKind kind;
    double     eps;                     /* default 1e-5 */
} XfNormDesc;

typedef enum { XF_SUB_ATTENTION, XF_SUB_FFN, XF_SUB_MOE, XF_SUB_SPARSE_FFN } XfSubKind;

typedef struct {
    XfSubKind  kind;
    XfLoc      loc;                     /* the call's name in its block (or inline entry) */
    XfNormDesc norm;                    /* resolved: the override, else the model's norm */
    union {
        struct {
            int64_t heads, kv_heads, head_dim;
            bool    rope;               /* applies RoPE (position = rope and rope != none) */
            double  rope_base;          /* 10000 by default */
            bool    bidirectional;
            int64_t window;             /* 0 = full */
            bool    bias;
        } attn;
        struct {
            int64_t hidden;
            XfAct   act;                /* default gelu */
            bool    bias;
        } ffn;
        struct {
            int64_t experts, top_k, hidden;
            XfAct   act;                /* default swiglu */
            XfRatio capacity;           /* num == 0: dropless */
            bool    renorm;             /* default true */
        } moe;
        struct {
            int64_t hidden, block, lowrank;
            bool    bias;               /* default true */
        } sffn;
    } u;
} XfSublayerDesc;

typedef struct {
    const char     *name;               /* block name, or the call name of an inline sublayer */
    XfLoc           loc;                /* the entry in `layers` that made this instance */
    XfSublayerDesc *subs;
    int             n_subs;
    bool            mod;                /* a mod(...) NAME instance */
    XfLoc           mod_loc;
    XfRatio         mod_capacity;       /* 0 < c <= 1 */
    bool            mod_sigmoid;        /* gate = sigmoid; else linear */
    double          mod_threshold;      /* decode_threshold, default 0.0 */
} XfBlockInst;

typedef struct {
    const char  *name;
    XfLoc        loc;
    int64_t      vocab, dim, context;
    XfNormDesc   norm;                  /* default rmsnorm(eps = 1e-5) */
    bool         residual_post;         /* residual = post */
    XfPosition   position;              /* default rope */
    bool         tie_embeddings;        /* default false */
    bool         final_norm;            /* default true */
    XfNormDesc   embed_norm;            /* after embed (+ positions); default none */
    bool         head_none;             /* head = none: the output is the hidden state */
    XfBlockInst *blocks;                /* expanded, in order */
    int          n_blocks;
} XfModelDesc;

/* ---- parse.c / sema.c (xf.l, xf.y) ---------------------------------------
 * Returns NULL when any error was reported to d.  All memory comes from a. */
XfModelDesc *fe_model_parse(XfArena *a, XfDiag *d, const char *src, size_t len);

/* ---- lower.c ------------------------------------------------------------ */
XfGraph *fe_model_lower(const XfModelDesc *m, const char *src_path);

#endif
