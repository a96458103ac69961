/* xf_test_models.h - small model descriptions built in code, so IR and pass
 * tests do not depend on the parser.  Header-only, for tests. */
#ifndef XF_TEST_MODELS_H
#define XF_TEST_MODELS_H

#include <string.h>

#include "frontend/frontend.h"

static XfSublayerDesc tm_attn(int64_t heads, int64_t kv, int64_t hd, bool bidir, int64_t window)
{
    XfSublayerDesc s = {.kind = XF_SUB_ATTENTION, .loc = {3, 5, 9}, .norm = {XF_NORM_RMS, 1e-5}};
    s.u.attn.heads = heads;
    s.u.attn.kv_heads = kv;
    s.u.attn.head_dim = hd;
    s.u.attn.rope = true;
    s.u.attn.rope_base = 10000;
    s.u.attn.bidirectional = bidir;
    s.u.attn.window = window;
    return s;
}

static XfSublayerDesc tm_ffn(int64_t hidden, XfAct act, bool bias)
{
    XfSublayerDesc s = {.kind = XF_SUB_FFN, .loc = {4, 5, 3}, .norm = {XF_NORM_LAYER, 1e-5}};
    s.u.ffn.hidden = hidden;
    s.u.ffn.act = act;
    s.u.ffn.bias = bias;
    return s;
}

static XfSublayerDesc tm_moe(int64_t experts, int64_t top_k, int64_t hidden, XfRatio cap)
{
    XfSublayerDesc s = {.kind = XF_SUB_MOE, .loc = {5, 5, 3}, .norm = {XF_NORM_RMS, 1e-5}};
    s.u.moe.experts = experts;
    s.u.moe.top_k = top_k;
    s.u.moe.hidden = hidden;
    s.u.moe.act = XF_ACT_SWIGLU;
    s.u.moe.capacity = cap;
    s.u.moe.renorm = true;
    return s;
}

static XfSublayerDesc tm_sffn(int64_t hidden, int64_t block, int64_t lowrank)
{
    XfSublayerDesc s = {.kind = XF_SUB_SPARSE_FFN, .loc = {6, 5, 10}, .norm = {XF_NORM_RMS, 1e-5}};
    s.u.sffn.hidden = hidden;
    s.u.sffn.block = block;
    s.u.sffn.lowrank = lowrank;
    s.u.sffn.bias = true;
    return s;
}

/* A model of n_blocks instances of one block `subs`; instance `mod_at` (or
 * -1) is MoD-routed with capacity cap. */
static XfModelDesc tm_model(XfSublayerDesc *subs, int n_subs, XfBlockInst *storage, int n_blocks,
                            int mod_at, XfRatio cap)
{
    XfModelDesc m = {.name = "tiny", .loc = {1, 1, 5}, .vocab = 37, .dim = 24, .context = 20,
                     .norm = {XF_NORM_RMS, 1e-5}, .position = XF_POS_ROPE, .final_norm = true};
    for (int b = 0; b < n_blocks; b++) {
        storage[b] = (XfBlockInst){.name = "blk", .loc = {8, 3, 3}, .subs = subs, .n_subs = n_subs};
        if (b == mod_at) {
            storage[b].mod = true;
            storage[b].mod_capacity = cap;
            storage[b].mod_loc = (XfLoc){9, 3, 3};
        }
    }
    m.blocks = storage;
    m.n_blocks = n_blocks;
    return m;
}

#endif
