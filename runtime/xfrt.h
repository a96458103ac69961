/* xfrt.h - the runtime that generated models carry with them.
 *
 * xfc embeds this header and the runtime .c files into every generated NAME.c, with
 * XFRT_API defined as `static inline`, so the generated file is standalone
 * and several models link into one program.  Built on its own (libxfrt) with
 * XFRT_API empty for unit tests.  Needs only libc, libm and, optionally,
 * OpenMP; nothing here includes a compiler header.
 *
 * Conventions: row-major float32; `n` is a runtime row count (may be 0);
 * every kernel writes each output element from exactly one thread in a fixed
 * order, so results are bitwise identical for any OMP_NUM_THREADS.  Inside a
 * parallel region every thread of the team calls every kernel (see below);
 * kernels that return a count return the same value on every thread. */
#ifndef XFRT_H
#define XFRT_H

#include <stddef.h>
#include <stdint.h>

#ifndef XFRT_API
#define XFRT_API
#endif

/* One place decides the threading policy.
 *
 * A generated NAME_forward or NAME_decode opens one OpenMP parallel region
 * (XFRT_PARALLEL_REGION) for the whole call; every thread of the team runs
 * the same sequence of kernel calls, and each kernel shares its loop among
 * them by itself (an orphaned work-sharing loop, with no barrier of its own):
 *
 *   xfrt_split(items, work, &lo, &hi)        contiguous blocks per thread
 *   xfrt_stride(items, work, &first, &step)  iteration i on thread i mod T, for
 *                                            loops whose iterations differ in
 *                                            cost along the index (causal attention)
 *   xfrt_lead()                              true on one thread: serial work
 *
 * Work below XFRT_PAR_MIN_WORK (flops; touched elements for pure copies) runs
 * on one thread while the others go on to the next barrier.  The generated
 * code puts an XFRT_BARRIER() between two kernels only where the second reads
 * what the first wrote, or writes arena bytes the first read or wrote.  The
 * split never changes results: every output element is computed by one
 * thread in a fixed order, so results are bitwise identical for any number
 * of threads.  Outside a parallel region (and without _OPENMP) every loop
 * runs whole on the calling thread. */
#ifndef XFRT_PAR_MIN_WORK
#define XFRT_PAR_MIN_WORK 65536     /* flops: about 5 to 20 us on one core */
#endif
#define XFRT_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#include <omp.h>
#define XFRT_PARALLEL_REGION XFRT_PRAGMA(omp parallel)
#define XFRT_BARRIER() XFRT_PRAGMA(omp barrier)
static inline void xfrt_team(int *t, int *nt)
{
    *t = omp_get_thread_num();
    *nt = omp_get_num_threads();
}
static inline int xfrt_max_threads(void) { return omp_get_max_threads(); }
#else
#define XFRT_PARALLEL_REGION
#define XFRT_BARRIER() ((void)0)
static inline void xfrt_team(int *t, int *nt)
{
    *t = 0;
    *nt = 1;
}
static inline int xfrt_max_threads(void) { return 1; }
#endif

static inline int xfrt_lead(void)
{
    int t, nt;
    xfrt_team(&t, &nt);
    return t == 0;
}

static inline void xfrt_split(long items, double work, long *lo, long *hi)
{
    int t, nt;
    xfrt_team(&t, &nt);
    if (nt <= 1 || work < XFRT_PAR_MIN_WORK) {
        *lo = t == 0 ? 0 : items;
        *hi = items;
        return;
    }
    long q = items / nt, r = items % nt;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r ? 1 : 0);
}

static inline void xfrt_stride(long items, double work, long *first, long *step)
{
    int t, nt;
    xfrt_team(&t, &nt);
    if (nt <= 1 || work < XFRT_PAR_MIN_WORK) {
        *first = t == 0 ? 0 : items;
        *step = 1;
        return;
    }
    *first = t;
    *step = nt;
}

/* ---- safetensors.c ------------------------------------------------------ */

/* The dtypes a model's tensors may have (xfc's docs/weights.md); any other is
 * XFRT_DT_OTHER, which xfrt_st_get refuses. */
enum { XFRT_DT_F32, XFRT_DT_BF16, XFRT_DT_F16, XFRT_DT_OTHER };

typedef struct {
    const char *name;           /* points into `names` */
    int         rank;
    int64_t     dim[8];
    uint64_t    begin, end;     /* byte offsets into the data section */
    int         dtype;          /* XFRT_DT_* */
} XfrtTensorInfo;

typedef struct {
    unsigned char  *map;        /* whole file, mmapped read-only */
    size_t          map_size;
    const unsigned char *data;  /* data section (after the header) */
    size_t          data_size;
    XfrtTensorInfo *tensors;
    int             n_tensors;
    char           *names;      /* storage for tensor names */
    void          **copies;     /* aligned, widened or converted copies, freed at close */
    int             n_copies;
} XfrtSafetensors;

/* Maps and fully validates a safetensors file: header length within the file,
 * header is valid JSON with the expected structure, every tensor's offsets
 * in bounds and consistent with its dtype and shape, no two tensors overlap.
 * Returns 0, or -1 with a message (naming the tensor where one is at fault). */
XFRT_API int  xfrt_st_open(XfrtSafetensors *st, const char *path, char *err, size_t err_size);
XFRT_API void xfrt_st_close(XfrtSafetensors *st);
/* Looks up an F32, BF16 or F16 tensor by name and checks its shape.  Sets
 * *out to its values as fp32: the file's F32 data itself when it is 4-byte
 * aligned, else an aligned copy; BF16 and F16 widened exactly into a copy.
 * Returns 0, or -1 with "tensor NAME: missing" / "...: shape [..] expected
 * [..]" / "...: dtype D, expected F32, BF16 or F16". */
XFRT_API int  xfrt_st_get(XfrtSafetensors *st, const char *name, int rank, const int64_t *dims,
                          const float **out, char *err, size_t err_size);
/* The same lookup, without widening: *data is the tensor as stored (F32 4
 * bytes an element, BF16 and F16 2, little-endian, as the host reads them),
 * aligned to its element size (copied when the file's offset is not), and
 * *dtype its XFRT_DT_*.  A BF16 tensor kept as bf16 is read through here. */
XFRT_API int  xfrt_st_get_raw(XfrtSafetensors *st, const char *name, int rank,
                              const int64_t *dims, const void **data, int *dtype, char *err,
                              size_t err_size);
/* A matrix as the fp32 values w' it stands for under --weights (xfc's
 * docs/semantics.md, "Weight formats"; the generated open packs the compact
 * form instead, from xfrt_st_get_for's values): fmt XFRT_WF_F32 is
 * xfrt_st_get; XFRT_WF_BF16 rounds each value to bfloat16 (a BF16 tensor is
 * its own w'); XFRT_WF_Q8 cuts each row (the last axis) into blocks of
 * XFRT_Q8_BLOCK and stores q * s (refusing a tensor with an infinity or
 * NaN, which no scale can hold).  The copy is freed at close. */
XFRT_API int  xfrt_st_get_converted(XfrtSafetensors *st, const char *name, int rank,
                                    const int64_t *dims, int fmt, const float **out, char *err,
                                    size_t err_size);

/* xfrt_st_get, for a tensor that open keeps in format fmt: the file's fp32
 * values, refused (naming the tensor) when fmt is XFRT_WF_Q8 and a value is
 * an infinity or NaN.  The generated open reads every tensor with it. */
XFRT_API int  xfrt_st_get_for(XfrtSafetensors *st, const char *name, int rank, const int64_t *dims,
                              int fmt, const float **out, char *err, size_t err_size);

/* ---- kernels_gemm.c: weight matrices in the micro-kernel's panel layout ---
 * A matrix W [rows, cols] (rows = outputs, cols = the length of each sum),
 * or a stack of `experts` of them, is stored once, at open, as panels of nr
 * consecutive rows: panel p holds rows [p*nr, p*nr + nr) interleaved along
 * k, element (row p*nr + j, k) at position k*nr + j; rows past `rows` are
 * zero.  nr is XFRT_NR of the build (xfrt_gemm.h) for a matrix a product
 * reads, 1 (plain row-major rows) for a table only the embedding gather
 * reads.  The element format (xfrt_wfmt.h, docs/semantics.md):
 *   XFRT_WF_F32   fp32 values;
 *   XFRT_WF_BF16  the bfloat16 of each value (widened in registers);
 *   XFRT_WF_Q8    per panel, blocks of XFRT_Q8_BLOCK k's: nr fp32 scales (one
 *                 per row), then XFRT_Q8_BLOCK x nr int8 (k-major; a short
 *                 last block is zero-padded); a weight's value is q * s.
 * Panels and stacks start 64-byte aligned. */
typedef struct {
    int                  fmt;           /* XFRT_WF_* */
    int                  rows, cols;    /* of one matrix */
    int                  nr;            /* panel width */
    int                  experts;       /* matrices in the stack (1: a plain matrix) */
    const unsigned char *data;          /* panel 0 of matrix 0 */
    size_t               panel_bytes;   /* one panel, padded to 64 bytes */
    size_t               matrix_bytes;  /* one matrix of the stack */
    void                *owned;         /* what xfrt_mat_free releases (NULL: data is borrowed) */
    float               *ws;            /* the model's product workspace: ws_threads slices of
                                         * xfrt_gemm_ws_floats() (NULL: none; not owned) */
    int                  ws_threads;
} XfrtMat;

/* Floats of one thread's slice of a product workspace: the generated open
 * allocates one slice per OpenMP thread (xfrt_max_threads) and hangs it on
 * every matrix; a product over many rows then blocks its rows in it, larger
 * than the stack allows.  A thread without a slice (more threads than at
 * open) uses smaller blocks on its stack: the same bits, slower. */
XFRT_API size_t xfrt_gemm_ws_floats(void);
/* Allocates a workspace of xfrt_max_threads() slices into *ws (64-byte
 * aligned; the caller frees it) and hangs it on mats[0..n).  Returns 0, or
 * -1 when out of memory (*ws NULL, the matrices unchanged). */
XFRT_API int xfrt_gemm_ws_attach(XfrtMat *mats, int n, float **ws);

/* XFRT_NR of this build: the panel width of a product's matrix. */
XFRT_API int  xfrt_panel_width(void);
/* Bytes xfrt_mat_pack allocates for such a matrix (0 when it borrows). */
XFRT_API size_t xfrt_mat_bytes(int fmt, int experts, int rows, int cols, int nr);
/* Packs w [experts, rows, cols] (fp32, row-major: the file's values), converting
 * each value to fmt as docs/semantics.md says (q8 blocks run along each row's
 * cols).  An fp32 matrix with nr = 1 borrows w; anything else is copied into
 * memory m owns.  Returns 0, or -1 when out of memory (m then owns nothing). */
XFRT_API int  xfrt_mat_pack(XfrtMat *m, const float *w, int experts, int rows, int cols, int fmt,
                            int nr);
/* The same for a bf16 matrix from bfloat16 values as stored (a BF16 tensor
 * of the file under --weights bf16: kept bit for bit, no fp32 copy). */
XFRT_API int  xfrt_mat_pack_bf16(XfrtMat *m, const uint16_t *w, int experts, int rows, int cols,
                                 int nr);
XFRT_API void xfrt_mat_free(XfrtMat *m);
/* Matrix e of a stack, as a matrix of its own (borrowed). */
XFRT_API XfrtMat xfrt_mat_expert(const XfrtMat *m, int e);
/* Row `row` of matrix 0 as fp32 values w' (what the products use): dst[cols]. */
XFRT_API void xfrt_mat_row(const XfrtMat *m, int row, float *dst);

/* ---- kernels_dense.c ----------------------------------------------------- */

enum { XFRT_ACT_RELU, XFRT_ACT_RELU2, XFRT_ACT_GELU, XFRT_ACT_GELU_TANH, XFRT_ACT_SILU };

/* y[i] = row idx[i] of table (its w' values), dim = table->cols */
XFRT_API void xfrt_embed(float *y, const XfrtMat *table, const int32_t *idx, int n, int dim);
XFRT_API void xfrt_add(float *y, const float *a, const float *b, size_t count);
XFRT_API void xfrt_add_bias(float *y, const float *x, const float *b, int n, int dim);
XFRT_API void xfrt_rmsnorm(float *y, const float *x, const float *w, int n, int dim, float eps);
XFRT_API void xfrt_layernorm(float *y, const float *x, const float *w, const float *b, int n,
                             int dim, float eps);
/* y[n, out] = x[n, in] W[out, in]^T: each element one fused multiply-add
 * chain over k = 0 .. in-1 in order, from 0 (xfrt_gemm.h) */
XFRT_API void xfrt_linear(float *y, const float *x, const XfrtMat *W, int n, int in, int out);
XFRT_API void xfrt_act(float *y, const float *x, size_t count, int act);
/* y = act(a) * b */
XFRT_API void xfrt_glu(float *y, const float *a, const float *b, size_t count, int act);

/* The fused product (pass fuse).  For each output o: y = epilogue(norm(x) . W^T)
 * over rows [n, in] of x.  The prologue, when kind != XFRT_NORM_NONE, is the
 * rmsnorm or layernorm of each row of x, applied while the product packs the
 * row's k-blocks (the statistics once per row block).  Each output's epilogue
 * applies, in order:
 * + bias; then act (act >= 0), or with W2 the GLU act(a) * (x W2^T + bias2);
 * then RoPE on pairs of columns at rope_pos[row] (rope_pos != NULL); then
 * y = res + value (res != NULL), on each work item's output block while it is
 * in cache.  All outputs share one work-sharing loop; each element is the
 * chain xfrt_linear computes, so results match the unfused kernels bit for
 * bit and do not depend on the thread count.  y must not overlap x, res or
 * another output. */
enum { XFRT_NORM_NONE, XFRT_NORM_RMS, XFRT_NORM_LAYER };
/* pass fuse forms no prologue or folded gather over wider rows
 * (XF_FUSE_MAX_NORM_IN); the kernels themselves take any width */
#define XFRT_NORM_BUF 24576
#define XFRT_FUSED_MAX_OUT 4

typedef struct {
    int          kind;          /* XFRT_NORM_* */
    const float *w, *b;         /* [in]; b for layernorm */
    float        eps;
} XfrtNorm;

typedef struct {
    float         *y;           /* [n, cols] */
    int            cols;
    const XfrtMat *W, *W2;      /* [cols, in]; W2: GLU's second product, or NULL */
    const float   *bias, *bias2;/* [cols] or NULL */
    int            act;         /* XFRT_ACT_*, or -1 */
    const int32_t *rope_pos;    /* [n] positions, or NULL */
    int            rope_heads, rope_head_dim;
    double         rope_base;
    const double  *rope_cs;     /* xfrt_rope_table of (rope_head_dim, rope_base), or NULL */
    int            rope_len;    /* its positions */
    const float   *res;         /* [n, cols] residual, or NULL */
    /* Combine epilogues (pass fuse): product row i, with value v after the
     * above, is stored to row rows[i] of y (rows NULL: row i), as
     *   MoD (mod_xt):  y = base + g(mod_r[rows[i]]) * (v - mod_xt[i]),
     *                  g = sigmoid when mod_sigmoid, else identity;
     *   MoE (gate):    y = base + (0 + gate[i] * v), base NULL: 0 + gate[i] * v;
     * the same expressions as xfrt_mod_combine and xfrt_moe_combine + xfrt_add
     * evaluate.  base [*, cols] is read at row rows[i] and may be y itself. */
    const int32_t *rows;
    const float   *base;
    const float   *gate;        /* [n] */
    const float   *mod_xt;      /* [n, cols] */
    const float   *mod_r;       /* [*] at rows[i] */
    int            mod_sigmoid;
} XfrtLinearOut;

XFRT_API void xfrt_linear_fused(const float *x, int n, int in, const XfrtNorm *norm,
                                const XfrtLinearOut *out, int n_out);
/* The same over rows rowidx[0..n) of x when rowidx != NULL (a gather folded
 * into the product's reads). */
XFRT_API void xfrt_linear_fused_rows(const float *x, const int32_t *rowidx, int n, int in,
                                     const XfrtNorm *norm, const XfrtLinearOut *out, int n_out);
/* Interleaved-pair RoPE: y = rope(x) at each row's position (xfc's
 * docs/semantics.md); theta = p * base^(-2i/head_dim) in double, then cos and
 * sin in double.  The generated open builds one table per distinct
 * (head_dim, base): cs[2 (p half + i)] and cs[2 (p half + i) + 1] are cos and
 * sin of theta for p < len, half = head_dim / 2.  The kernels read it for
 * positions in [0, cs_len) and compute the same doubles otherwise (cs NULL). */
XFRT_API void xfrt_rope_table(double *cs, int len, int head_dim, double base);
XFRT_API void xfrt_rope(float *y, const float *x, const int32_t *pos, int n, int heads,
                        int head_dim, double base, const double *cs, int cs_len);

/* ---- kernels_attention.c -------------------------------------------------- */

/* One attention layer's KV cache: entries in order of arrival, each with the
 * original position of its token (MoD caches hold only routed tokens). */
typedef struct {
    float   *k, *v;             /* [cap, kv_dim] */
    int32_t *pos;               /* [cap] */
    int      len, cap, kv_dim;
} XfrtKV;

/* Appends n rows of k and v at positions pos.  Caller guarantees room. */
XFRT_API void xfrt_kv_append(XfrtKV *c, const float *k, const float *v, const int32_t *pos, int n);
/* y[n, heads*hd]: each query row (at position qpos[i]) attends over the whole
 * cache: keys with pos <= qpos when causal, |qpos - pos| < window when
 * window > 0; query head h reads kv head h / (heads / kv_heads); scale
 * 1/sqrt(hd); softmax; weighted sum of v.  Uses no scratch memory. */
XFRT_API void xfrt_attention(float *y, const float *q, const XfrtKV *c, const int32_t *qpos,
                             int n, int heads, int kv_heads, int head_dim, int causal, int window);

/* ---- kernels_route.c ------------------------------------------------------
 * Generated code for a model without routed sublayers defines XFRT_NO_ROUTE
 * and carries neither these declarations nor kernels_route.c. */
#ifndef XFRT_NO_ROUTE

/* MoE routing table for n tokens, E experts, top_k choices, laid out in one
 * block of XFRT_ROUTE_BYTES(n, E, k) bytes (carved by xfrt_route_bind). */
typedef struct {
    int32_t *offset;            /* [E+1]: assignments of expert e are [offset[e], offset[e+1]) */
    int32_t *tok;               /* [n*k]: token row of each kept assignment, sorted by expert */
    float   *gate;              /* [n*k]: its gate */
    int32_t *slot;              /* [n*k]: for token t, rank r: slot[t*k+r] = assignment index, -1 dropped */
    float   *prob;              /* [n*E]: scratch for the softmax */
    int      n, experts, top_k;
} XfrtRoute;

#define XFRT_ROUTE_BYTES(n, E, k) \
    ((size_t)4 * ((size_t)(E) + 1 + (size_t)3 * (size_t)(n) * (size_t)(k) + (size_t)(n) * (size_t)(E)))

XFRT_API void xfrt_route_bind(XfrtRoute *r, void *mem, int n_max, int experts, int top_k);
/* softmax over experts; top_k largest (ties: lower index); gate renormalized
 * over the selected when renorm; capacity C = ceil(cap_num*n*top_k /
 * (cap_den*experts)) when cap_num > 0: assignments taken by rank then token,
 * one finding its expert full is dropped (slot -1, gates not renormalized).
 * Returns the number of kept assignments (offset[E]). */
XFRT_API int  xfrt_moe_route(XfrtRoute *r, const float *logits, int n, int renorm, int64_t cap_num,
                             int64_t cap_den);
XFRT_API void xfrt_moe_gather(float *xs, const float *x, const XfrtRoute *r, int dim);
/* y[a, out] = xs[a, in] W[e]^T for the rows a of expert e */
XFRT_API void xfrt_grouped_linear(float *y, const float *xs, const XfrtMat *W, const XfrtRoute *r,
                                  int in, int out);
/* The fused product (xfrt_linear_fused) per expert e over its assignments
 * [offset[e], offset[e+1]): W and W2 of each output are [experts, cols, in],
 * y and res are [assignments, cols].  gathered: row a of the product is token
 * row tok[a] of x (the moe_gather folded in), else row a of x. */
XFRT_API void xfrt_grouped_linear_fused(const float *x, const XfrtRoute *r, int gathered, int in,
                                        const XfrtLinearOut *out, int n_out);
/* The MoE combine folded into the down product (top_k == 1 only, where each
 * token has at most one assignment, so the scatter cannot race): out[0].gate
 * and out[0].rows are the table's gate and tok (offset per expert here), and
 * every token without a kept assignment gets base + 0 (base NULL: 0). */
XFRT_API void xfrt_grouped_linear_scatter(const float *x, const XfrtRoute *r, int gathered, int in,
                                          const XfrtLinearOut *out);
/* y[t] = sum over ranks of gate * ys[slot] (dropped ranks add nothing), rank order */
XFRT_API void xfrt_moe_combine(float *y, const float *ys, const XfrtRoute *r, int dim);
/* The same, then y[t] = res[t] + y[t] (a residual add folded in by pass fuse);
 * y must not overlap res or ys. */
XFRT_API void xfrt_moe_combine_add(float *y, const float *ys, const XfrtRoute *r, const float *res,
                                   int dim);

/* MoD: at forward (decode == 0) k = ceil(cap_num*n/cap_den) rows with the
 * largest r (ties: lower row), written ascending to idx; at decode n == 1 and
 * the row is taken iff r > threshold.  Returns k. */
XFRT_API int  xfrt_mod_select(int32_t *idx, const float *r, int n, int64_t cap_num, int64_t cap_den,
                              int decode, float threshold);
XFRT_API void xfrt_gather_rows(float *y, const float *x, const int32_t *idx, int k, int dim);
XFRT_API void xfrt_gather_i32(int32_t *y, const int32_t *x, const int32_t *idx, int k, int dim);
/* out = x; out[idx[i]] += g(r[idx[i]]) * (y[i] - xt[i]), g = sigmoid or identity */
XFRT_API void xfrt_mod_combine(float *out, const float *x, const float *xt, const float *y,
                               const float *r, const int32_t *idx, int n, int k, int dim,
                               int sigmoid);

/* The MoD combine folded into the product of the routed instance's last
 * value: xfrt_linear_fused over its k rows with out[0] a MoD combine (rows =
 * idx, base = x, y the [n, cols] output); the n - k rows not routed are
 * copied from x unless y is x itself (then they are already in place). */
XFRT_API void xfrt_mod_linear_fused(const float *x, int k, int in, const XfrtNorm *norm,
                                    const XfrtLinearOut *out, int n);

/* Sparse FFN: sel[t, m] = block*m + argmax of c[t, block*m .. block*m+block) (ties: lower) */
XFRT_API void xfrt_sffn_select(int32_t *sel, const float *c, int n, int hidden, int block);
/* y[t] = sum_m relu(x[t] . W1[j] + b1[j]) * W2[:, j] + b2,  j = sel[t, m];
 * b1, b2 may be NULL.  Touches only the chosen rows of W1 and columns of W2. */
XFRT_API void xfrt_sffn_apply(float *y, const float *x, const int32_t *sel, const float *W1,
                              const float *b1, const float *W2, const float *b2, int n, int dim,
                              int hidden, int n_groups);

#endif /* XFRT_NO_ROUTE */

#endif
