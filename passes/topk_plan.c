/* topk_plan.c - pass "topk-plan": static top-k shape planning.
 *
 * Entry: streams are defined (MoD selections, MoE routes) with their
 * capacities; bounds are provisional (a parent's rows).  Exit: every stream
 * has the tightest static bound its rule allows, with the derivation written
 * next to it, and every shape is re-inferred, so the memory plan reserves
 * exactly that much and nothing is allocated at run time:
 *   MoD:  k(n) = ceil(c * n) for a forward of n tokens, so k <= ceil(c * T)
 *         with T the parent's bound; at decode k is 0 or 1 (r > threshold).
 *   MoE:  assignments are sorted by expert into one buffer of T * top_k rows
 *         (dropless); with capacity c each expert keeps C(n) =
 *         ceil(c * n * top_k / experts), so rows <= min(T * top_k, experts * C(T)).
 * All products are exact integer arithmetic on the decimal capacity. */
#include "passes.h"

bool pass_topk_plan(XfGraph *g, XfPassCtx *cx)
{
    for (uint32_t s = 2; s < g->n_streams; s++) {
        XfStream *st = &g->streams[s];
        int64_t T = ir_stream_bound(g, st->parent);
        XfRatio c = st->capacity;
        XfNode *def = &g->nodes[st->def];
        if (st->kind == XF_STREAM_MOD) {
            int64_t k = xf_ratio_ceil_mul(c, T, 1);
            if (k < 1 || k > T) {
                pass_error(cx, g, def->loc, "MoD capacity gives k = %lld of %lld tokens",
                           (long long)k, (long long)T);
                return false;
            }
            st->bound = k;
            st->derivation = xf_arena_printf(
                g->arena,
                "k(n) = ceil(%lld/%lld * n) <= ceil(%lld/%lld * %lld) = %lld; decode: r > %g admits 0 or 1",
                (long long)c.num, (long long)c.den, (long long)c.num, (long long)c.den,
                (long long)T, (long long)k, def->attr.threshold);
        } else if (st->kind == XF_STREAM_MOE) {
            int64_t K = st->top_k, E = st->experts, all = T * K;
            if (c.num == 0) {
                st->bound = all;
                st->derivation = xf_arena_printf(
                    g->arena, "dropless: sorted by expert into T * top_k = %lld * %lld = %lld rows",
                    (long long)T, (long long)K, (long long)all);
            } else {
                int64_t C = xf_ratio_ceil_mul(c, T * K, E), kept;
                XF_ASSERT(C >= 0);
                if (xf_mul_overflow(E, C, &kept))   /* a capacity far above 1: all are kept */
                    kept = all;
                st->bound = kept < all ? kept : all;
                st->derivation = xf_arena_printf(
                    g->arena,
                    "capacity C(n) = ceil(%lld/%lld * n * %lld / %lld) <= %lld per expert; "
                    "rows <= min(T * top_k, experts * C) = min(%lld, %lld) = %lld",
                    (long long)c.num, (long long)c.den, (long long)K, (long long)E, (long long)C,
                    (long long)all, (long long)kept, (long long)st->bound);
            }
        }
    }
    return pass_shape(g, cx);
}
