/* ir.h - the xfc graph IR: a flat node array with integer ids, static shapes
 * and one op table (ops.def).  Everything here is independent of C text. */
#ifndef XF_IR_H
#define XF_IR_H

#include "../support/support.h"

typedef uint32_t XfId;          /* 0 means "no node" */

#define XF_MAX_ARITY 12          /* a fused group reads up to this many inputs */
#define XF_MAX_RANK  4

typedef enum {
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) XF_OP_##e,
#include "ops.def"
#undef XF_OP
    XF_OP_COUNT
} XfOp;

/* The fusion class of an op (ops.def): how passes/fuse.c may use it. */
typedef enum { XF_FUSE_NONE, XF_FUSE_PROLOGUE, XF_FUSE_EPILOGUE, XF_FUSE_ANCHOR } XfFuseClass;
/* Where an op's output lives (ops.def). */
typedef enum {
    XF_MEM_NONE,                /* not in the arena: weights (mmapped), the caller's tokens */
    XF_MEM_ARENA,               /* a buffer of the memory plan (the logits are the caller's) */
    XF_MEM_ALIAS,               /* a view into input 0's buffer: no bytes of its own */
} XfMemKind;

/* The runtime file an op's kernels live in (ops.def): codegen embeds
 * runtime/kernels_route.c only into models with a ROUTE op. */
typedef enum { XF_KERNELS_NONE, XF_KERNELS_DENSE, XF_KERNELS_ATTENTION, XF_KERNELS_ROUTE } XfKernelFile;

typedef enum { XF_F32, XF_I32, XF_ROUTE } XfDtype;   /* ROUTE: an MoE routing table */

typedef enum { XF_NORM_RMS, XF_NORM_LAYER, XF_NORM_NONE } XfNormKind;
typedef enum {
    XF_ACT_RELU, XF_ACT_RELU2, XF_ACT_GELU, XF_ACT_GELU_TANH, XF_ACT_SILU,
    XF_ACT_SWIGLU, XF_ACT_GEGLU,         /* gated: act(x W1^T) * (x W3^T) */
    XF_ACT_COUNT
} XfAct;
typedef enum { XF_POS_ROPE, XF_POS_LEARNED, XF_POS_NONE } XfPosition;

const char *ir_act_name(XfAct a);       /* "swiglu" ... */
bool        ir_act_gated(XfAct a);
XfAct       ir_act_inner(XfAct a);      /* swiglu -> silu, geglu -> gelu, others itself */

/* A shape.  When stream != 0, dim[0] is the static bound of a runtime row
 * count: the number of rows of that stream in this call (tokens of the
 * forward, tokens routed into a MoD instance, expert assignments of an MoE). */
typedef struct {
    uint8_t  rank;
    uint32_t stream;            /* index into XfGraph.streams, 0 = all dims static */
    int64_t dim[XF_MAX_RANK];
} XfShape;

typedef enum {
    XF_STREAM_NONE,             /* stream 0: unused */
    XF_STREAM_TOKENS,           /* the n tokens of forward (1 at decode); bound = context */
    XF_STREAM_MOD,              /* k = ceil(c * parent) rows routed into a MoD instance */
    XF_STREAM_MOE,              /* expert assignments of an MoE sublayer, sorted by expert */
} XfStreamKind;

typedef struct {
    XfStreamKind kind;
    uint32_t     parent;        /* stream whose rows are routed */
    XfId         def;           /* node that computes the runtime count */
    int64_t      bound;         /* static upper bound, set by the topk-plan pass */
    XfRatio      capacity;      /* MoD c, or MoE capacity (num = 0: dropless) */
    int64_t      experts, top_k;/* MoE only */
    const char  *derivation;    /* human-readable reason for `bound` (graph arena) */
} XfStream;

/* A fused group (pass fuse): one FUSED node computes, in one kernel call,
 * a matrix product over one or more segments of weight rows, with an optional
 * norm prologue (computed inside the product's read of its input) and per
 * segment an epilogue applied before the output is stored, in this order:
 * bias, activation or GLU, RoPE, residual add.  Operands are input slots of
 * the node (-1: none); slot 0 is the input rows x.  The output buffer holds
 * the segments one after another, each [rows bound, cols]; with more than one
 * segment, PART nodes view them.  An MoE group runs per expert over that
 * expert's assignments. */
typedef struct {
    XfOp        op;
    XfId        id;             /* its id before fusion (dumps) */
    XfLoc       loc;
    const char *label;
    int8_t      src[2];         /* the members it reads (indices into members), -1 */
} XfFuseMember;

typedef struct {
    int64_t cols;               /* output columns */
    int64_t offset;             /* first column of this segment in the group's buffer */
    int8_t  w, w2;              /* W [cols, in]; GLU: W2, the product b of act(a) * b */
    int8_t  bias, bias2;        /* added to the W and W2 products */
    int8_t  act;                /* XfAct, -1 none (GLU: the gate's activation) */
    bool    glu;
    int8_t  rope_pos;           /* positions for RoPE, -1 none */
    int64_t rope_heads, rope_head_dim;
    double  rope_base;
    int8_t  res;                /* residual added last, -1 none */
} XfFuseSeg;

#define XF_FUSE_MAX_SEG 4

typedef enum { XF_COMBINE_NONE, XF_COMBINE_MOD, XF_COMBINE_MOE } XfCombine;

typedef struct XfFuse {
    XfNormKind    norm;         /* prologue, XF_NORM_NONE if none */
    double        eps;
    int8_t        norm_w, norm_b;
    int8_t        route;        /* MoE: the routing table; the anchors are grouped_linear
                                 * (W [experts, cols, in]) and rows are its assignments */
    bool          gathered;     /* MoE: x is token rows, read through the table (the
                                 * moe_gather folded into the product's row indexing) */
    int           n_seg;
    XfFuseSeg     seg[XF_FUSE_MAX_SEG];
    /* A combine after the product (one segment; the group's output is then
     * [token rows, cols]): MoD writes x + g(r) * (y - xt) at the routed rows
     * idx and x elsewhere; MoE (top_k == 1) scatters gate * y to each
     * assignment's token row, plus a residual base when one is folded in. */
    XfCombine     combine;
    int8_t        base;         /* MoD: x; MoE: the residual, or -1 (the output may be its buffer) */
    int8_t        mod_xt, mod_r, mod_idx;
    bool          mod_sigmoid;
    int           n_members;
    XfFuseMember *members;      /* in execution order (graph arena) */
    double        flops, flops_dense;   /* per row: the members' sum (pass stats) */
    const char   *name;         /* "fused[rmsnorm > linear x3 > rope x2]" */
} XfFuse;

/* Attributes.  One plain struct: each op reads the fields its line names. */
typedef struct {
    const char *name;           /* WEIGHT: tensor name per SPEC 4 */
    double      eps;            /* RMSNORM, LAYERNORM */
    double      base;           /* ROPE */
    int64_t     heads, kv_heads, head_dim;   /* ROPE, ATTENTION */
    int64_t     window;         /* ATTENTION: 0 = full */
    bool        causal;         /* ATTENTION */
    int32_t     layer;          /* ATTENTION: KV-cache slot */
    XfAct       act;            /* ACT, GLU */
    int64_t     experts, top_k; /* MOE_ROUTE */
    bool        renorm;         /* MOE_ROUTE */
    XfRatio     capacity;       /* MOE_ROUTE (num = 0: dropless), MOD_SELECT */
    double      threshold;      /* MOD_SELECT: decode admits r > threshold */
    bool        sigmoid;        /* MOD_COMBINE: gate = sigmoid(r), else r */
    int64_t     block;          /* SFFN_SELECT */
    const XfFuse *fuse;         /* FUSED, and PART (its group's) */
    int32_t     part;           /* PART: segment index */
} XfAttrs;

enum {
    XF_NODE_OUTPUT  = 1 << 0,   /* the logits */
    XF_NODE_BARRIER = 1 << 1,   /* all threads meet before it runs (pass sched) */
};

typedef struct {
    XfOp     op;
    uint8_t  n_in;
    XfId     in[XF_MAX_ARITY];
    XfDtype  dtype;
    XfShape  shape;
    XfAttrs  attr;
    XfLoc    loc;               /* where in the .xf file it came from */
    uint32_t flags;
    int32_t  block;             /* block instance b, -1 outside blocks */
    int32_t  sub;               /* sublayer s within the block, -1 for block-level nodes */
    const char *label;          /* short role, e.g. "attn.q" (graph arena); may be NULL */
    uint32_t def_stream;        /* the stream this node defines (STREAM ops), else 0 */
} XfNode;

/* The memory plan (set by pass memplan): a byte offset per node into one arena. */
typedef struct {
    bool      done;
    int64_t  *offset;           /* [n_nodes+1], -1 = not in the arena */
    int64_t  *size;             /* [n_nodes+1] bytes reserved */
    int64_t   arena_bytes;      /* peak */
    int64_t   kv_bytes;         /* KV caches (separate from the arena) */
} XfMemPlan;

typedef struct {
    XfArena    *arena;          /* owns nodes' strings and everything below */
    XfNode     *nodes;          /* [n_nodes+1]; nodes[0] unused */
    uint32_t    n_nodes, cap_nodes;
    XfStream   *streams;        /* [n_streams] (heap); streams[0] unused, [1] = tokens */
    uint32_t    n_streams, cap_streams;
    /* model-level facts codegen and stats need */
    const char *model_name;
    const char *src_path;       /* for comments in dumps and generated code */
    int64_t     vocab, dim, context;
    int32_t     n_layers_kv;    /* number of attention KV-cache slots */
    bool        has_decode;     /* false when any attention is bidirectional */
    XfId        logits;         /* the output node */
    int32_t     cur_block, cur_sub;   /* stamped on new nodes by ir_node_add (lowering sets them) */
    const char *cur_label;
    XfMemPlan   plan;
} XfGraph;

typedef struct {
    const char  *name;
    int          min_in, max_in;
    bool       (*shape)(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n);
    XfFuseClass  fuse;
    XfStreamKind stream;        /* the kind of stream the op defines, XF_STREAM_NONE if none */
    XfMemKind    mem;
    int          calls;         /* runtime kernel calls of its emitter */
    int          syncs;         /* barriers inside them */
    XfKernelFile kernels;       /* the runtime file of its kernels */
} XfOpInfo;

extern const XfOpInfo xf_op_info[XF_OP_COUNT];

/* ---- graph.c ------------------------------------------------------------ */
/* The op's name, or a fused group's "fused[...]" */
const char *ir_node_name(const XfNode *x);
/* The node whose buffer id's output is: itself, or what an alias (PART) views. */
XfId        ir_buffer_of(const XfGraph *g, XfId id);
XfGraph *ir_graph_new(void);
void     ir_graph_free(XfGraph *g);
/* Adds a node; shape and dtype are inferred by the op's shape rule (an
 * internal error if it fails: lowering only builds well-formed graphs). */
XfId     ir_node_add(XfGraph *g, XfOp op, const XfId *in, int n_in, const XfAttrs *attr, XfLoc loc);
XfId     ir_weight_add(XfGraph *g, const char *name, int rank, const int64_t *dims, XfLoc loc);
int      ir_stream_add(XfGraph *g, XfStreamKind kind, int parent);
int64_t  ir_shape_elems(const XfShape *s);           /* at the bound; INT64_MAX if it overflows */
bool     ir_shape_equal(const XfShape *a, const XfShape *b);   /* field by field, not memcmp */
int64_t  ir_node_bytes(const XfGraph *g, XfId id);   /* buffer size at the bound; INT64_MAX if it overflows */

/* ---- shape.c ------------------------------------------------------------ */
/* The stream a STREAM op defines (0 if none), and a stream's current bound:
 * the planned bound once topk-plan ran, else the parent's (a safe bound). */
uint32_t ir_stream_of_def(const XfGraph *g, XfId def);
int64_t ir_stream_bound(const XfGraph *g, int s);
/* Re-infers every node's shape from its inputs; reports a mismatch in err. */
bool ir_shape_infer_node(XfGraph *g, XfId id, char *err, size_t n);

/* ---- verify.c ----------------------------------------------------------- */
/* Checks the invariants: inputs precede users, arity within the table, shapes
 * equal to the shape rule's, streams defined before use.  Prints to err. */
bool ir_verify(XfGraph *g, FILE *err);

/* ---- dump.c ------------------------------------------------------------- */
void ir_graph_dump(const XfGraph *g, FILE *out);
void ir_graph_dump_dot(const XfGraph *g, FILE *out);
void ir_shape_str(const XfGraph *g, const XfShape *s, XfDtype dt, char *buf, size_t n);

/* ---- weights.c ---------------------------------------------------------- */
/* --weights: how the generated open stores the matrices (docs/semantics.md,
 * "Weight formats"); the values are the runtime's XFRT_WF_* */
typedef enum { XF_WEIGHTS_F32, XF_WEIGHTS_BF16, XF_WEIGHTS_Q8 } XfWeightFormat;
/* The dtype --init-weights writes: every tensor in it */
typedef enum { XF_DTYPE_F32, XF_DTYPE_BF16, XF_DTYPE_F16 } XfFileDtype;

const char *ir_weight_format_name(XfWeightFormat f);         /* "f32", "bf16", "q8" */
/* A weight that --weights bf16/q8 converts (the matrices: embed, lm_head,
 * attn.wq/wk/wv/wo, ffn.w1/w2/w3, moe.w1/w2/w3, sffn.w1/w2); every other
 * tensor stays fp32 in every format. */
bool    ir_weight_converts(const char *name);
/* Bytes the loaded model keeps for one weight, and for all of them: fp32 4
 * per element; a converted matrix 2 per element (bf16) or 1 per element plus
 * a 4-byte scale per block of 32 along each row, the last one possibly
 * shorter (q8).  INT64_MAX if it overflows. */
int64_t ir_weight_bytes(const XfNode *w, XfWeightFormat f);
int64_t ir_weights_resident_bytes(const XfGraph *g, XfWeightFormat f);
/* Writes every WEIGHT of g as safetensors of one dtype (values rounded to
 * nearest even from the F32 ones), deterministic for seed. */
bool ir_weights_init(const XfGraph *g, const char *path, uint64_t seed, XfFileDtype dtype,
                     char *err, size_t n);

#endif
