/* fuse.c - pass "fuse": fused groups around matrix products.
 *
 * Entry: planned bounds (after topk-plan).  Exit: every group this pass forms
 * is one FUSED node at the place of its last member, with PART views of its
 * segments when it has more than one; the members are gone; everything else
 * keeps its order.  What a group may hold (the fusion classes of ops.def):
 *
 *   anchors   the `linear` users of one input x in one sublayer (Q, K and V;
 *             the two products of a gated FFN), or the `grouped_linear` users
 *             of one MoE's expert rows (its up and gate products), up to
 *             XF_FUSE_MAX_SEG: one product over their weight rows, one
 *             segment each;
 *   prologue  an rmsnorm or layernorm producing x, or for grouped products the
 *             moe_gather producing their rows (then read through the routing
 *             table: no copy), when every user of x is one of those anchors
 *             (a value anything else reads is stored as before: fusing it
 *             would compute it twice);
 *   epilogues per segment, each the single user of what precedes it, in this
 *             order: add_bias, then act, or a glu of two anchors' products
 *             (one segment computing act(a) * b), then rope, then a residual
 *             add whose other operand the group does not compute.
 *
 * Every member shares the rows of x (so no group crosses a MoD or MoE
 * boundary, where rows differ) and one sublayer (so --stats keeps its
 * per-block numbers).  A lone linear without epilogue stays as it is.  A
 * group forms only where nothing outside it reads an intermediate value
 * (a linear output that two residual adds read keeps its buffer) and every
 * reader of a segment's output comes after the group's last member. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* The widest norm input a prologue takes: the runtime normalizes a band of
 * rows into a stack buffer of XFRT_NORM_BUF floats (runtime/xfrt.h). */
#define XF_FUSE_MAX_NORM_IN 24576

#define MAX_SEG_MEMBERS 6

typedef struct {
    XfId w, w2, bias, bias2, rope, res;   /* operand node ids, 0 none */
    XfId rope_node, glu_node;
    int  act;                             /* XfAct, -1 none */
    XfId end;                             /* the node whose value the segment outputs */
    XfId anchor;
    XfId nodes[MAX_SEG_MEMBERS];
    int  n_nodes;
} Seg;

typedef struct {
    XfId x, norm, gather, route;
    Seg  seg[XF_FUSE_MAX_SEG];
    int  n_seg;
    XfId pos;                             /* the last member */
    XfCombine combine;                    /* a combine after the one segment */
    XfId comb, comb_add;                  /* its node, and the residual add folded after it */
    XfId base, mod_xt, mod_r, mod_idx;    /* operand node ids, 0 none */
    bool mod_sigmoid;
} Group;

typedef struct {
    XfGraph  *g;
    uint32_t *use_start, *uses;           /* users of id: uses[use_start[id] .. use_start[id+1]) */
    int32_t  *group_of;                   /* group index of a member, -1 */
} Fx;

static uint32_t n_uses(const Fx *f, XfId id) { return f->use_start[id + 1] - f->use_start[id]; }

static XfId sole_user(const Fx *f, XfId id)
{
    return n_uses(f, id) == 1 ? f->uses[f->use_start[id]] : 0;
}

static bool same_place(const XfNode *a, const XfNode *b)
{
    return a->block == b->block && a->sub == b->sub && a->shape.stream == b->shape.stream;
}

/* u may join the group of anchor a as an epilogue of op `op` reading `cur` as input 0 */
static bool joins(const Fx *f, XfId u, XfOp op, XfId cur, XfId anchor)
{
    const XfNode *x = &f->g->nodes[u];
    return u && x->op == op && f->group_of[u] < 0 && x->in[0] == cur &&
           same_place(x, &f->g->nodes[anchor]) && xf_op_info[op].fuse == XF_FUSE_EPILOGUE;
}

static void seg_add(Seg *s, XfId id)
{
    XF_ASSERT(s->n_nodes < MAX_SEG_MEMBERS);
    s->nodes[s->n_nodes++] = id;
    s->end = id;
}

/* act, rope and a residual add after what the segment has so far */
static void grow_tail(const Fx *f, Seg *s, const bool *in_group)
{
    const XfGraph *g = f->g;
    XfId u = sole_user(f, s->end);
    if (!s->glu_node && joins(f, u, XF_OP_ACT, s->end, s->anchor)) {
        s->act = (int)g->nodes[u].attr.act;
        seg_add(s, u);
        u = sole_user(f, s->end);
    }
    if (!s->glu_node && joins(f, u, XF_OP_ROPE, s->end, s->anchor)) {
        s->rope = g->nodes[u].in[1];
        s->rope_node = u;
        seg_add(s, u);
    }
    /* add(a, b) is commutative: either operand may be the segment's value */
    u = sole_user(f, s->end);
    const XfNode *a = u ? &g->nodes[u] : NULL;
    if (a && a->op == XF_OP_ADD && f->group_of[u] < 0 && same_place(a, &g->nodes[s->anchor]) &&
        a->in[0] != a->in[1]) {
        XfId other = a->in[0] == s->end ? a->in[1] : a->in[0];
        if (!in_group[other]) {
            s->res = other;
            seg_add(s, u);
        }
    }
}

/* Collects the group anchored at linear `id`; false if nothing fuses. */
static bool collect(Fx *f, XfId id, Group *G, bool *in_group)
{
    XfGraph *g = f->g;
    const XfNode *an = &g->nodes[id];
    memset(G, 0, sizeof *G);
    G->x = an->in[0];
    /* siblings: the linears of one sublayer reading x, in order */
    int n_sib = 0;
    XfId sib[XF_FUSE_MAX_SEG];
    bool all_siblings = true;
    bool grouped = an->op == XF_OP_GROUPED_LINEAR;
    for (uint32_t k = f->use_start[G->x]; k < f->use_start[G->x + 1]; k++) {
        XfId u = f->uses[k];
        const XfNode *x = &g->nodes[u];
        bool dup = false;
        for (int j = 0; j < n_sib; j++)
            dup |= sib[j] == u;
        if (dup)
            continue;
        if (x->op == an->op && x->in[0] == G->x && x->in[1] != G->x && f->group_of[u] < 0 &&
            same_place(x, an) && (!grouped || x->in[2] == an->in[2]) && n_sib < XF_FUSE_MAX_SEG)
            sib[n_sib++] = u;
        else
            all_siblings = false;
    }
    if (grouped)
        G->route = an->in[2];
    /* a prologue only where every use of x is one of the siblings */
    all_siblings = all_siblings && n_uses(f, G->x) == (uint32_t)n_sib;
    const XfNode *xn = &g->nodes[G->x];
    if (all_siblings && xf_op_info[xn->op].fuse == XF_FUSE_PROLOGUE && f->group_of[G->x] < 0 &&
        xn->block == an->block && xn->sub == an->sub && !(xn->flags & XF_NODE_OUTPUT) &&
        xn->shape.dim[1] <= XF_FUSE_MAX_NORM_IN) {
        if (!grouped && (xn->op == XF_OP_RMSNORM || xn->op == XF_OP_LAYERNORM)) {
            G->norm = G->x;
            G->x = xn->in[0];
        } else if (grouped && xn->op == XF_OP_MOE_GATHER && xn->in[1] == G->route) {
            G->gather = G->x;       /* the expert rows are read through the table */
            G->x = xn->in[0];
        }
    }
    for (int i = 0; i < n_sib; i++) {
        Seg *s = &G->seg[i];
        s->anchor = sib[i];
        s->w = g->nodes[sib[i]].in[1];
        s->act = -1;
        seg_add(s, sib[i]);
        XfId u = sole_user(f, s->end);
        if (joins(f, u, XF_OP_ADD_BIAS, s->end, s->anchor)) {
            s->bias = g->nodes[u].in[1];
            seg_add(s, u);
        }
    }
    G->n_seg = n_sib;
    /* glu(a, b) of two siblings' products: one segment computing act(a) * b */
    bool merged[XF_FUSE_MAX_SEG] = {false};
    for (int i = 0; i < G->n_seg; i++) {
        Seg *a = &G->seg[i];
        XfId u = sole_user(f, a->end);
        const XfNode *gl = u ? &g->nodes[u] : NULL;
        if (merged[i] || !gl || gl->op != XF_OP_GLU || gl->in[0] != a->end || f->group_of[u] >= 0 ||
            !same_place(gl, &g->nodes[a->anchor]))
            continue;
        for (int j = 0; j < G->n_seg; j++) {
            Seg *b = &G->seg[j];
            if (j == i || merged[j] || b->glu_node || sole_user(f, b->end) != u || gl->in[1] != b->end)
                continue;
            a->w2 = b->w;
            a->bias2 = b->bias;
            a->act = (int)gl->attr.act;
            a->glu_node = u;
            for (int k = 0; k < b->n_nodes; k++)
                seg_add(a, b->nodes[k]);
            seg_add(a, u);
            merged[j] = true;
            break;
        }
    }
    int kept = 0;
    for (int i = 0; i < G->n_seg; i++)
        if (!merged[i])
            G->seg[kept++] = G->seg[i];
    G->n_seg = kept;
    for (int i = 0; i < G->n_seg; i++)
        for (int k = 0; k < G->seg[i].n_nodes; k++)
            in_group[G->seg[i].nodes[k]] = true;
    if (G->norm)
        in_group[G->norm] = true;
    if (G->gather)
        in_group[G->gather] = true;
    for (int i = 0; i < G->n_seg; i++)
        grow_tail(f, &G->seg[i], in_group);
    int members = G->norm || G->gather ? 1 : 0;
    for (int i = 0; i < G->n_seg; i++) {
        members += G->seg[i].n_nodes;
        for (int k = 0; k < G->seg[i].n_nodes; k++) {
            in_group[G->seg[i].nodes[k]] = true;
            if (G->seg[i].nodes[k] > G->pos)
                G->pos = G->seg[i].nodes[k];
        }
    }
    bool ok = members > 1;
    /* the output (logits) can only be a group's single output */
    for (int i = 0; i < G->n_seg && ok; i++) {
        const Seg *s = &G->seg[i];
        for (int k = 0; k < s->n_nodes; k++)
            if (g->nodes[s->nodes[k]].flags & XF_NODE_OUTPUT)
                ok = ok && G->n_seg == 1 && s->nodes[k] == s->end;
        /* whatever reads a segment's output comes after the group's node */
        for (uint32_t k = f->use_start[s->end]; k < f->use_start[s->end + 1]; k++)
            ok = ok && f->uses[k] > G->pos && !in_group[f->uses[k]];
    }
    return ok;
}

static int8_t slot(XfNode *F, XfId id)
{
    if (!id)
        return -1;
    for (int i = 0; i < F->n_in; i++)
        if (F->in[i] == id)
            return (int8_t)i;
    if (F->n_in >= XF_MAX_ARITY)
        return -2;
    F->in[F->n_in] = id;
    return (int8_t)F->n_in++;
}

static int cmp_id(const void *a, const void *b)
{
    XfId x = *(const XfId *)a, y = *(const XfId *)b;
    return x < y ? -1 : x > y;
}

/* "fused[rmsnorm > linear x3 > rope x2]": members by kind, in epilogue order */
static const char *group_name(XfArena *a, const XfFuse *fu)
{
    static const XfOp order[] = {XF_OP_RMSNORM, XF_OP_LAYERNORM, XF_OP_MOE_GATHER, XF_OP_LINEAR,
                                 XF_OP_GROUPED_LINEAR, XF_OP_ADD_BIAS, XF_OP_ACT, XF_OP_GLU,
                                 XF_OP_ROPE, XF_OP_MOE_COMBINE, XF_OP_ADD, XF_OP_MOD_COMBINE};
    XfStrBuf sb = {0};
    xf_sb_puts(&sb, "fused[");
    bool first = true;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        int c = 0;
        for (int m = 0; m < fu->n_members; m++)
            c += fu->members[m].op == order[k];
        if (!c)
            continue;
        xf_sb_printf(&sb, "%s%s", first ? "" : " > ", xf_op_info[order[k]].name);
        if (c > 1)
            xf_sb_printf(&sb, " x%d", c);
        first = false;
    }
    xf_sb_puts(&sb, "]");
    const char *r = xf_arena_strdup(a, sb.data);
    xf_sb_free(&sb);
    return r;
}

/* The group's node (not yet placed): its operands as old ids, its record. */
static bool build_node(XfGraph *g, const Group *G, XfNode *F)
{
    memset(F, 0, sizeof *F);
    XfFuse *fu = xf_arena_alloc(g->arena, sizeof *fu);
    memset(fu, 0, sizeof *fu);
    F->op = XF_OP_FUSED;
    F->attr.fuse = fu;
    bool ok = slot(F, G->x) == 0;
    fu->norm = XF_NORM_NONE;
    fu->norm_w = fu->norm_b = -1;
    fu->route = slot(F, G->route);
    fu->gathered = G->gather != 0;
    ok = ok && fu->route >= -1;
    if (G->norm) {
        const XfNode *nm = &g->nodes[G->norm];
        fu->norm = nm->op == XF_OP_RMSNORM ? XF_NORM_RMS : XF_NORM_LAYER;
        fu->eps = nm->attr.eps;
        fu->norm_w = slot(F, nm->in[1]);
        if (nm->op == XF_OP_LAYERNORM)
            fu->norm_b = slot(F, nm->in[2]);
        ok = ok && fu->norm_w >= 0 && (nm->op == XF_OP_RMSNORM || fu->norm_b >= 0);
    }
    fu->n_seg = G->n_seg;
    fu->combine = G->combine;
    fu->base = slot(F, G->base);
    fu->mod_xt = slot(F, G->mod_xt);
    fu->mod_r = slot(F, G->mod_r);
    fu->mod_idx = slot(F, G->mod_idx);
    fu->mod_sigmoid = G->mod_sigmoid;
    ok = ok && fu->base >= -1 && fu->mod_xt >= -1 && fu->mod_r >= -1 && fu->mod_idx >= -1;
    int64_t offset = 0;
    XfStrBuf label = {0};
    for (int i = 0; i < G->n_seg; i++) {
        const Seg *s = &G->seg[i];
        XfFuseSeg *o = &fu->seg[i];
        const XfNode *an = &g->nodes[s->anchor];
        o->cols = an->shape.dim[1];     /* [rows, cols] for linear and grouped_linear alike */
        o->offset = offset;
        offset += o->cols;
        o->w = slot(F, s->w);
        o->w2 = slot(F, s->w2);
        o->glu = s->glu_node != 0;
        o->bias = slot(F, s->bias);
        o->bias2 = slot(F, s->bias2);
        o->act = (int8_t)s->act;
        o->rope_pos = slot(F, s->rope);
        if (s->rope_node) {
            const XfAttrs *ra = &g->nodes[s->rope_node].attr;
            o->rope_heads = ra->heads;
            o->rope_head_dim = ra->head_dim;
            o->rope_base = ra->base;
        }
        o->res = slot(F, s->res);
        ok = ok && o->w >= 0 && o->w2 >= -1 && o->bias >= -1 && o->bias2 >= -1 &&
             o->rope_pos >= -1 && o->res >= -1;
        /* the anchors' roles, and the glu partner's */
        for (int k = 0; k < s->n_nodes; k++) {
            const XfNode *m = &g->nodes[s->nodes[k]];
            if (xf_op_info[m->op].fuse == XF_FUSE_ANCHOR && m->label)
                xf_sb_printf(&label, "%s%s", label.len ? "+" : "", m->label);
        }
    }
    /* members, in execution order */
    XfId ids[XF_FUSE_MAX_SEG * MAX_SEG_MEMBERS + 3];
    int n = 0;
    if (G->comb)
        ids[n++] = G->comb;
    if (G->comb_add)
        ids[n++] = G->comb_add;
    if (G->norm)
        ids[n++] = G->norm;
    if (G->gather)
        ids[n++] = G->gather;
    for (int i = 0; i < G->n_seg; i++)
        for (int k = 0; k < G->seg[i].n_nodes; k++)
            ids[n++] = G->seg[i].nodes[k];
    qsort(ids, (size_t)n, sizeof ids[0], cmp_id);
    fu->n_members = n;
    fu->members = xf_arena_alloc(g->arena, (size_t)n * sizeof *fu->members);
    /* FLOPs per output row: a combine's output rows are tokens, its product's
     * are the routed rows (or assignments), so members count at their rates */
    uint32_t out_s = g->nodes[G->comb_add ? G->comb_add : G->comb ? G->comb : G->pos].shape.stream;
    for (int m = 0; m < n; m++) {
        const XfNode *x = &g->nodes[ids[m]];
        fu->members[m] = (XfFuseMember){x->op, ids[m], x->loc, x->label, {-1, -1}};
        int k = 0;
        for (int i = 0; i < x->n_in && k < 2; i++)
            for (int j = 0; j < m; j++)
                if (ids[j] == x->in[i])
                    fu->members[m].src[k++] = (int8_t)j;
        fu->flops += pass_stats_node_flops(g, x, false) * pass_stats_rate(g, x->shape.stream, false) /
                     pass_stats_rate(g, out_s, false);
        fu->flops_dense += pass_stats_node_flops(g, x, true) * pass_stats_rate(g, x->shape.stream, true) /
                           pass_stats_rate(g, out_s, true);
        F->flags |= x->flags & XF_NODE_OUTPUT;
    }
    fu->name = group_name(g->arena, fu);
    const XfNode *first = &g->nodes[ids[0]];
    F->loc = first->loc;
    F->block = first->block;
    F->sub = first->sub;
    F->label = label.len ? xf_arena_strdup(g->arena, label.data) : NULL;
    xf_sb_free(&label);
    return ok;
}

/* A combine whose routed value y is the single-segment output of a product
 * (a group's, or a lone linear / grouped_linear's): the combine becomes the
 * product's epilogue, so y is never stored.  MoD: y's rows are the instance's
 * k rows.  MoE: top_k == 1 only, where each token has at most one assignment
 * and the scatter cannot race (with top_k > 1 the combine's rank-ordered sum
 * needs every expert's rows first); a residual add reading the combine alone
 * joins it.  gi: the group of y, or -1 for a new one in *G. */
static bool combine_group(const Fx *f, XfId id, const Group *groups, int32_t *gi, Group *G)
{
    const XfGraph *g = f->g;
    const XfNode *c = &g->nodes[id];
    bool mod = c->op == XF_OP_MOD_COMBINE;
    XfId y = c->in[mod ? 2 : 0];
    const XfNode *yn = &g->nodes[y];
    if (n_uses(f, y) != 1 || (c->flags & XF_NODE_OUTPUT) || f->group_of[id] >= 0)
        return false;
    *gi = f->group_of[y];
    if (*gi >= 0) {
        *G = groups[*gi];
        if (G->n_seg != 1 || G->seg[0].end != y || G->combine)
            return false;
    } else {
        if (yn->op != (mod ? XF_OP_LINEAR : XF_OP_GROUPED_LINEAR) || (yn->flags & XF_NODE_OUTPUT))
            return false;
        memset(G, 0, sizeof *G);
        G->x = yn->in[0];
        G->route = mod ? 0 : yn->in[2];
        G->n_seg = 1;
        G->seg[0].anchor = y;
        G->seg[0].w = yn->in[1];
        G->seg[0].act = -1;
        seg_add(&G->seg[0], y);
        G->pos = y;
    }
    G->comb = id;
    if (mod) {
        /* the product's rows are the instance's: no MoE inside */
        if (G->route || yn->shape.stream != g->nodes[c->in[1]].shape.stream)
            return false;
        G->combine = XF_COMBINE_MOD;
        G->base = c->in[0];
        G->mod_xt = c->in[1];
        G->mod_r = c->in[3];
        G->mod_idx = c->in[4];
        G->mod_sigmoid = c->attr.sigmoid;
    } else {
        if (G->route != c->in[1] || g->nodes[G->route].attr.top_k != 1)
            return false;
        G->combine = XF_COMBINE_MOE;
        XfId u = sole_user(f, id);
        const XfNode *a = u ? &g->nodes[u] : NULL;
        if (a && a->op == XF_OP_ADD && f->group_of[u] < 0 && a->in[0] != a->in[1] &&
            a->block == c->block && a->sub == c->sub && a->shape.stream == c->shape.stream) {
            G->base = a->in[0] == id ? a->in[1] : a->in[0];
            G->comb_add = u;
        }
    }
    XfId last = G->comb_add ? G->comb_add : id;
    G->seg[0].end = last;
    G->pos = last;
    return true;
}

bool pass_fuse(XfGraph *g, XfPassCtx *cx)
{
    if (cx->no_fuse)
        return true;
    uint32_t n = g->n_nodes;
    Fx f = {.g = g};
    f.use_start = xf_arena_alloc(cx->scratch, (n + 2) * sizeof *f.use_start);
    memset(f.use_start, 0, (n + 2) * sizeof *f.use_start);
    for (XfId id = 1; id <= n; id++)
        for (int i = 0; i < g->nodes[id].n_in; i++)
            f.use_start[g->nodes[id].in[i] + 1]++;
    for (XfId id = 1; id <= n + 1; id++)
        f.use_start[id] += f.use_start[id - 1];
    uint32_t *fill = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *fill);
    memcpy(fill, f.use_start, (n + 1) * sizeof *fill);
    f.uses = xf_arena_alloc(cx->scratch, (f.use_start[n + 1] + 1) * sizeof *f.uses);
    for (XfId id = 1; id <= n; id++)
        for (int i = 0; i < g->nodes[id].n_in; i++)
            f.uses[fill[g->nodes[id].in[i]]++] = id;
    f.group_of = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *f.group_of);
    for (XfId id = 0; id <= n; id++)
        f.group_of[id] = -1;
    bool *mark = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *mark);
    memset(mark, 0, (n + 1) * sizeof *mark);

    /* groups, anchored at their first linear in order */
    uint32_t cap = 16, n_groups = 0;
    Group *groups = xf_xmalloc(cap * sizeof *groups);
    XfNode *gnode = xf_xmalloc(cap * sizeof *gnode);
    for (XfId id = 1; id <= n; id++) {
        if (xf_op_info[g->nodes[id].op].fuse != XF_FUSE_ANCHOR || f.group_of[id] >= 0)
            continue;
        Group G;
        bool ok = collect(&f, id, &G, mark);
        XfNode F;
        ok = ok && build_node(g, &G, &F);
        if (G.norm)
            mark[G.norm] = false;
        if (G.gather)
            mark[G.gather] = false;
        for (int i = 0; i < G.n_seg; i++)
            for (int j = 0; j < G.seg[i].n_nodes; j++)
                mark[G.seg[i].nodes[j]] = false;
        if (!ok)
            continue;
        if (n_groups == cap) {
            cap *= 2;
            groups = xf_xrealloc(groups, cap * sizeof *groups);
            gnode = xf_xrealloc(gnode, cap * sizeof *gnode);
        }
        groups[n_groups] = G;
        gnode[n_groups] = F;
        if (G.norm)
            f.group_of[G.norm] = (int32_t)n_groups;
        if (G.gather)
            f.group_of[G.gather] = (int32_t)n_groups;
        for (int i = 0; i < G.n_seg; i++)
            for (int k = 0; k < G.seg[i].n_nodes; k++)
                f.group_of[G.seg[i].nodes[k]] = (int32_t)n_groups;
        n_groups++;
    }

    /* combines into the products that compute their routed values */
    for (XfId id = 1; id <= n; id++) {
        XfOp op = g->nodes[id].op;
        if (op != XF_OP_MOD_COMBINE && op != XF_OP_MOE_COMBINE)
            continue;
        Group G;
        int32_t gi;
        if (!combine_group(&f, id, groups, &gi, &G))
            continue;
        XfNode F;
        if (!build_node(g, &G, &F))
            continue;
        if (gi < 0) {
            if (n_groups == cap) {
                cap *= 2;
                groups = xf_xrealloc(groups, cap * sizeof *groups);
                gnode = xf_xrealloc(gnode, cap * sizeof *gnode);
            }
            gi = (int32_t)n_groups++;
            f.group_of[G.seg[0].anchor] = gi;
        }
        groups[gi] = G;
        gnode[gi] = F;
        f.group_of[G.comb] = gi;
        if (G.comb_add)
            f.group_of[G.comb_add] = gi;
    }

    /* a residual add after a combine that stays (top_k > 1: the rank-ordered
     * sum needs every expert's rows) joins the combine's kernel */
    XfId *into = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *into);
    memset(into, 0, (n + 1) * sizeof *into);
    for (XfId id = 1; id <= n; id++) {
        XfNode *c = &g->nodes[id];
        if (c->op != XF_OP_MOE_COMBINE || f.group_of[id] >= 0 || c->n_in != 2 ||
            (c->flags & XF_NODE_OUTPUT))
            continue;
        XfId u = sole_user(&f, id);
        const XfNode *a = u ? &g->nodes[u] : NULL;
        if (!a || a->op != XF_OP_ADD || f.group_of[u] >= 0 || a->in[0] == a->in[1] ||
            (a->flags & XF_NODE_OUTPUT) || a->block != c->block || a->sub != c->sub)
            continue;
        XfId other = a->in[0] == id ? a->in[1] : a->in[0];
        if (other >= id || !ir_shape_equal(&g->nodes[other].shape, &c->shape))
            continue;
        c->in[c->n_in++] = other;
        into[u] = id;
    }

    /* the new node order: each group's node (and its parts) at its last member */
    uint32_t cap_new = n + n_groups * XF_FUSE_MAX_SEG + 2;
    XfNode *nn = xf_xcalloc(cap_new, sizeof *nn);
    XfId *remap = xf_arena_alloc(cx->scratch, (n + 1) * sizeof *remap);
    memset(remap, 0, (n + 1) * sizeof *remap);
    XfId k = 0;
    for (XfId id = 1; id <= n; id++) {
        int32_t gi = f.group_of[id];
        if (into[id]) {         /* an add folded into the combine it reads */
            remap[id] = remap[into[id]];
            continue;
        }
        if (gi < 0) {
            XfNode x = g->nodes[id];
            for (int i = 0; i < x.n_in; i++)
                x.in[i] = remap[x.in[i]];
            nn[++k] = x;
            remap[id] = k;
            continue;
        }
        const Group *G = &groups[gi];
        if (id != G->pos)
            continue;
        XfNode F = gnode[gi];
        for (int i = 0; i < F.n_in; i++) {
            XF_ASSERT(remap[F.in[i]]);
            F.in[i] = remap[F.in[i]];
        }
        nn[++k] = F;
        XfId fid = k;
        for (int s = 0; s < G->n_seg; s++) {
            XfId end = G->seg[s].end;
            if (G->n_seg == 1) {
                remap[end] = fid;
                break;
            }
            const XfNode *e = &g->nodes[end];
            XfNode p = {.op = XF_OP_PART, .n_in = 1, .in = {fid}, .loc = e->loc, .block = e->block,
                        .sub = e->sub, .label = e->label};
            p.attr.fuse = F.attr.fuse;
            p.attr.part = s;
            nn[++k] = p;
            remap[end] = k;
        }
    }
    for (uint32_t s = 2; s < g->n_streams; s++)
        g->streams[s].def = remap[g->streams[s].def];
    g->logits = remap[g->logits];
    free(g->nodes);
    g->nodes = nn;
    g->n_nodes = k;
    g->cap_nodes = cap_new;
    free(groups);
    free(gnode);
    return pass_shape(g, cx);
}
