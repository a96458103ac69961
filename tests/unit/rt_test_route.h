/* rt_test_route.h - the routing half of test_rt_kernels.c (MoE, MoD, sparse
 * FFN), kept apart so each file stays short.  Included once, after the
 * helpers check_close, fvec and dvec. */
#ifndef XF_RT_TEST_ROUTE_H
#define XF_RT_TEST_ROUTE_H

/* ---- MoE ------------------------------------------------------------------ */

/* Reference routing: exp[t*k+r] = expert or -1 when dropped, gate[t*k+r]. */
static int ref_route(int n, int E, int k, const float *logits, int renorm, int64_t cap_num,
                     int64_t cap_den, int *ex, double *gate)
{
    double *p = dvec((size_t)E);
    for (int t = 0; t < n; t++) {
        double mx = -INFINITY, sum = 0, picked = 0;
        for (int e = 0; e < E; e++)
            mx = fmax(mx, logits[t * E + e]);
        for (int e = 0; e < E; e++)
            sum += p[e] = exp(logits[t * E + e] - mx);
        for (int r = 0; r < k; r++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int j = 0; j < r; j++)
                    taken |= ex[t * k + j] == e;
                if (!taken && (best < 0 || p[e] > p[best]))
                    best = e;
            }
            ex[t * k + r] = best;
            gate[t * k + r] = p[best] / sum;
            picked += p[best] / sum;
        }
        for (int r = 0; r < k && renorm; r++)
            gate[t * k + r] /= picked;
    }
    free(p);
    int64_t cap = cap_num > 0 ? (cap_num * n * k + cap_den * E - 1) / (cap_den * E) : n;
    int *count = calloc((size_t)E, sizeof(int)), kept = 0;
    for (int r = 0; r < k; r++)
        for (int t = 0; t < n; t++) {
            int e = ex[t * k + r];
            if (count[e] >= cap)
                ex[t * k + r] = -1;
            else
                count[e]++, kept++;
        }
    free(count);
    return kept;
}

/* Routes, checks the table against ref_route, then runs gather / grouped
 * linear / combine and checks y = sum of gate * x W[e]^T. */
static void moe_case(RtRng *rng, int n, int E, int k, int renorm, int64_t cap_num, int64_t cap_den,
                     int discrete, int expect_kept)
{
    int in = 5, out = 3;
    float *logits = fvec((size_t)n * E);
    for (int i = 0; i < n * E; i++)     /* a discrete set makes ties common */
        logits[i] = discrete ? (float)rt_below(rng, 5) * 0.5f : rt_uniform(rng, -2, 2);
    void *mem = malloc(XFRT_ROUTE_BYTES(n + 3, E, k));
    XfrtRoute r;
    xfrt_route_bind(&r, mem, n + 3, E, k);
    int kept = xfrt_moe_route(&r, logits, n, renorm, cap_num, cap_den);
    int *ex = calloc((size_t)n * k + 1, sizeof(int));
    double *gate = dvec((size_t)n * k);
    int want_kept = ref_route(n, E, k, logits, renorm, cap_num, cap_den, ex, gate);
    assert_int_equal(kept, want_kept);
    if (expect_kept >= 0)
        assert_int_equal(kept, expect_kept);
    assert_int_equal(r.n, n);
    assert_int_equal(r.offset[0], 0);
    assert_int_equal(r.offset[E], kept);
    for (int e = 0; e < E; e++) {
        assert_true(r.offset[e] <= r.offset[e + 1]);
        for (int a = r.offset[e] + 1; a < r.offset[e + 1]; a++)
            assert_true(r.tok[a - 1] < r.tok[a]);       /* tokens ascending */
    }
    for (int t = 0; t < n; t++)
        for (int i = 0; i < k; i++) {
            int a = r.slot[t * k + i];
            if (ex[t * k + i] < 0) {
                assert_int_equal(a, -1);
                continue;
            }
            assert_true(a >= r.offset[ex[t * k + i]] && a < r.offset[ex[t * k + i] + 1]);
            assert_int_equal(r.tok[a], t);
            assert_true(fabs(r.gate[a] - gate[t * k + i]) <= 1e-6);
        }

    float *x = fvec((size_t)n * in), *W = fvec((size_t)E * out * in);
    float *xs = fvec((size_t)kept * in), *ys = fvec((size_t)kept * out), *y = fvec((size_t)n * out);
    double *want = dvec((size_t)n * out), *scale = dvec((size_t)n * out);
    rt_fill(rng, x, (size_t)n * in, -1, 1);
    rt_fill(rng, W, (size_t)E * out * in, -1, 1);
    xfrt_moe_gather(xs, x, &r, in);
    for (int a = 0; a < kept; a++)
        assert_memory_equal(xs + a * in, x + r.tok[a] * in, in * sizeof(float));
    xfrt_grouped_linear(ys, xs, mat_of(W, E, out, in), &r, in, out);
    xfrt_moe_combine(y, ys, &r, out);
    for (int t = 0; t < n; t++)
        for (int o = 0; o < out; o++) {
            double s = 0, sc = 0;
            for (int i = 0; i < k; i++) {
                int e = ex[t * k + i];
                if (e < 0)
                    continue;
                double d = 0;
                for (int j = 0; j < in; j++)
                    d += (double)x[t * in + j] * W[((size_t)e * out + o) * in + j];
                s += gate[t * k + i] * d;
                sc += fabs(gate[t * k + i] * d) + 1e-3;
            }
            want[t * out + o] = s;
            scale[t * out + o] = sc;
        }
    check_close("moe", y, want, scale, (size_t)n * out, 1e-5, 1e-7);
    /* the fused expert product (gather folded into its reads, GLU of two
     * stacks): the same bits as gather, two grouped products and glu; and
     * without the gather, from the gathered rows */
    float *W3 = fvec((size_t)E * out * in), *ys3 = fvec((size_t)kept * out);
    float *fy = fvec((size_t)kept * out + 1), *fy2 = fvec((size_t)kept * out + 1);
    rt_fill(rng, W3, (size_t)E * out * in, -1, 1);
    xfrt_grouped_linear(ys3, xs, mat_of(W3, E, out, in), &r, in, out);
    xfrt_glu(ys, ys, ys3, (size_t)kept * out, XFRT_ACT_SILU);
    XfrtLinearOut fo = {.y = fy, .cols = out, .W = mat_of(W, E, out, in), .W2 = mat_of(W3, E, out, in),
                        .act = XFRT_ACT_SILU};
    fy[(size_t)kept * out] = fy2[(size_t)kept * out] = 12345.0f;
    xfrt_grouped_linear_fused(x, &r, 1, in, &fo, 1);
    fo.y = fy2;
    xfrt_grouped_linear_fused(xs, &r, 0, in, &fo, 1);
    assert_memory_equal(fy, ys, (size_t)kept * out * sizeof(float));
    assert_memory_equal(fy2, ys, (size_t)kept * out * sizeof(float));
    assert_true(fy[(size_t)kept * out] == 12345.0f && fy2[(size_t)kept * out] == 12345.0f);
    /* the residual add folded into the combine, and with top_k == 1 the
     * combine folded into the product as a scatter (also over its residual's
     * own buffer): the unfused kernels' bits */
    float *res = fvec((size_t)n * out + 1), *yc = fvec((size_t)n * out + 1), *yf = fvec((size_t)n * out + 1);
    rt_fill(rng, res, (size_t)n * out, -1, 1);
    xfrt_grouped_linear(ys, xs, mat_of(W, E, out, in), &r, in, out);
    xfrt_moe_combine(y, ys, &r, out);
    xfrt_add(yc, res, y, (size_t)n * out);
    xfrt_moe_combine_add(yf, ys, &r, res, out);
    assert_memory_equal(yf, yc, (size_t)n * out * sizeof(float));
    if (k == 1) {
        XfrtLinearOut so = {.y = yf, .cols = out, .W = mat_of(W, E, out, in), .act = -1, .base = res};
        for (int gathered = 0; gathered <= 1; gathered++) {
            memset(yf, 0xff, (size_t)n * out * sizeof(float));
            so.y = yf, so.base = res;
            xfrt_grouped_linear_scatter(gathered ? x : xs, &r, gathered, in, &so);
            assert_memory_equal(yf, yc, (size_t)n * out * sizeof(float));
            memcpy(yf, res, (size_t)n * out * sizeof(float));
            so.base = yf;
            xfrt_grouped_linear_scatter(gathered ? x : xs, &r, gathered, in, &so);
            assert_memory_equal(yf, yc, (size_t)n * out * sizeof(float));
            so.base = NULL;
            xfrt_grouped_linear_scatter(gathered ? x : xs, &r, gathered, in, &so);
            assert_memory_equal(yf, y, (size_t)n * out * sizeof(float));
        }
    }
    free(res), free(yc), free(yf);
    free(W3), free(ys3), free(fy), free(fy2);
    free(logits), free(mem), free(ex), free(gate), free(x), free(W), free(xs), free(ys), free(y);
    free(want), free(scale);
}

static void test_moe(void **state)
{
    (void)state;
    RtRng rng = {8};
    for (int n = 0; n <= 33; n += 11)
        for (int discrete = 0; discrete <= 1; discrete++) {
            moe_case(&rng, n, 8, 2, 1, 0, 1, discrete, n * 2);       /* dropless */
            moe_case(&rng, n, 8, 2, 0, 0, 1, discrete, n * 2);
            moe_case(&rng, n, 4, 3, 1, 125, 100, discrete, -1);
            moe_case(&rng, n, 5, 1, 1, 1, 2, discrete, -1);          /* many drops */
            moe_case(&rng, n, 3, 3, 1, 1, 10, discrete, -1);
            moe_case(&rng, n, 1, 1, 1, 0, 1, discrete, n);
        }
    moe_case(&rng, 1, 8, 2, 1, 1, 100, 1, 2);      /* one token never drops */
    /* exact capacity: ceil(0.14 * 50 * 1 / 1) = 7 (0.14 * 50 is 7.000000000000001 in double) */
    moe_case(&rng, 50, 1, 1, 1, 14, 100, 0, 7);
    /* capacity in rank-then-token order: every token's first choice is expert
     * 0, second is expert 1; capacity C = ceil(0.5 * 4 * 2 / 2) = 2 */
    float logits[4 * 2] = {1, 0, 1, 0, 1, 0, 1, 0};
    void *mem = malloc(XFRT_ROUTE_BYTES(4, 2, 2));
    XfrtRoute r;
    xfrt_route_bind(&r, mem, 4, 2, 2);
    assert_int_equal(xfrt_moe_route(&r, logits, 4, 1, 5, 10), 4);
    int32_t want_slot[8] = {0, 2, 1, 3, -1, -1, -1, -1};
    assert_memory_equal(r.slot, want_slot, sizeof want_slot);
    /* huge decimal capacities do not overflow */
    assert_int_equal(xfrt_moe_route(&r, logits, 4, 1, INT64_MAX, INT64_MAX), 8);
    assert_int_equal(xfrt_moe_route(&r, logits, 4, 1, INT64_MAX, 1), 8);
    assert_int_equal(xfrt_moe_route(&r, logits, 4, 1, 1, INT64_MAX), 2);
    assert_int_equal(xfrt_moe_route(&r, logits, 0, 1, 1, 2), 0);
    free(mem);
}

/* ---- MoD ------------------------------------------------------------------ */

static int ref_mod(int32_t *idx, const float *r, int n, int k)
{
    int *order = malloc(sizeof(int) * (n + 1));
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)     /* insertion sort: r descending, then row */
        for (int j = i; j > 0; j--) {
            float a = isnan(r[order[j]]) ? -INFINITY : r[order[j]];
            float b = isnan(r[order[j - 1]]) ? -INFINITY : r[order[j - 1]];
            if (a > b || (a == b && order[j] < order[j - 1])) {
                int tmp = order[j];
                order[j] = order[j - 1];
                order[j - 1] = tmp;
            } else
                break;
        }
    for (int i = 0; i < k; i++)
        idx[i] = order[i];
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && idx[j] < idx[j - 1]; j--) {
            int32_t tmp = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = tmp;
        }
    free(order);
    return k;
}

static void test_mod_select(void **state)
{
    (void)state;
    RtRng rng = {9};
    int32_t idx[300], want[300];
    float r6[6] = {1, 3, 3, 0, 3, 2};
    assert_int_equal(xfrt_mod_select(idx, r6, 6, 1, 2, 0, 0.0f), 3);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 2);
    assert_int_equal(idx[2], 4);
    assert_int_equal(xfrt_mod_select(idx, r6, 6, 2, 3, 0, 0.0f), 4);   /* + row 5 */
    assert_int_equal(idx[3], 5);
    float *r = fvec(300);
    for (int n = 0; n <= 257; n += n < 10 ? 1 : 31)
        for (int discrete = 0; discrete <= 1; discrete++) {
            for (int i = 0; i < n; i++)
                r[i] = discrete ? (float)rt_below(&rng, 4) : rt_uniform(&rng, -1, 1);
            if (n > 3)
                r[3] = NAN;
            int64_t caps[][2] = {{1, 8}, {125, 1000}, {3, 10}, {1, 1}, {999, 1000}, {7, 100}};
            for (int c = 0; c < 6; c++) {
                int k = (int)((caps[c][0] * n + caps[c][1] - 1) / caps[c][1]);
                assert_int_equal(xfrt_mod_select(idx, r, n, caps[c][0], caps[c][1], 0, 0.0f), k);
                ref_mod(want, r, n, k);
                assert_memory_equal(idx, want, (size_t)k * sizeof(int32_t));
            }
        }
    /* exact k: ceil(0.07 * 100) = 7 (0.07 * 100 is 7.000000000000001 in double) */
    for (int i = 0; i < 100; i++)
        r[i] = (float)i;
    assert_int_equal(xfrt_mod_select(idx, r, 100, 7, 100, 0, 0.0f), 7);
    assert_int_equal(idx[0], 93);
    /* huge numerators and denominators stay exact */
    assert_int_equal(
        xfrt_mod_select(idx, r, 100, 125000000000000000, 1000000000000000000, 0, 0), 13);
    assert_int_equal(xfrt_mod_select(idx, r, 100, INT64_MAX, INT64_MAX, 0, 0), 100);
    assert_int_equal(xfrt_mod_select(idx, r, 100, 1, INT64_MAX, 0, 0), 1);
    /* decode: admitted iff r > threshold */
    float one = 0.5f;
    assert_int_equal(xfrt_mod_select(idx, &one, 1, 1, 8, 1, 0.0f), 1);
    assert_int_equal(idx[0], 0);
    assert_int_equal(xfrt_mod_select(idx, &one, 1, 1, 8, 1, 0.5f), 0);
    one = NAN;
    assert_int_equal(xfrt_mod_select(idx, &one, 1, 1, 8, 1, 0.0f), 0);
    assert_int_equal(xfrt_mod_select(idx, r, 0, 1, 8, 1, 0.0f), 0);
    free(r);
}

static void test_mod_gather_combine(void **state)
{
    (void)state;
    RtRng rng = {10};
    int n = 9, dim = 17, k = 4;
    int32_t idx[4] = {0, 3, 4, 8}, toks[9 * 2], tk[4 * 2];
    float *x = fvec((size_t)n * dim), *xt = fvec((size_t)k * dim), *y = fvec((size_t)k * dim);
    float *out = fvec((size_t)n * dim), r[9];
    double *want = dvec((size_t)n * dim);
    rt_fill(&rng, x, (size_t)n * dim, -1, 1);
    rt_fill(&rng, y, (size_t)k * dim, -1, 1);
    rt_fill(&rng, r, 9, -3, 3);
    for (int i = 0; i < 18; i++)
        toks[i] = i * 7;
    xfrt_gather_rows(xt, x, idx, k, dim);
    xfrt_gather_i32(tk, toks, idx, k, 2);
    for (int i = 0; i < k; i++) {
        assert_memory_equal(xt + i * dim, x + idx[i] * dim, dim * sizeof(float));
        assert_int_equal(tk[2 * i + 1], toks[2 * idx[i] + 1]);
    }
    for (int sig = 0; sig <= 1; sig++) {
        for (int i = 0; i < n * dim; i++)
            want[i] = x[i];
        for (int i = 0; i < k; i++) {
            double g = sig ? 1 / (1 + exp(-(double)r[idx[i]])) : r[idx[i]];
            for (int d = 0; d < dim; d++)
                want[idx[i] * dim + d] = x[idx[i] * dim + d] +
                                         g * ((double)y[i * dim + d] - xt[i * dim + d]);
        }
        xfrt_mod_combine(out, x, xt, y, r, idx, n, k, dim, sig);
        check_close("mod_combine", out, want, NULL, (size_t)n * dim, 1e-6, 1e-6);
        float *copy = fvec((size_t)n * dim);
        memcpy(copy, x, (size_t)n * dim * sizeof(float));
        xfrt_mod_combine(copy, copy, xt, y, r, idx, n, k, dim, sig);    /* in place */
        assert_memory_equal(copy, out, (size_t)n * dim * sizeof(float));
        xfrt_mod_combine(copy, x, xt, y, r, idx, n, 0, dim, sig);       /* k = 0 */
        assert_memory_equal(copy, x, (size_t)n * dim * sizeof(float));
        /* the combine as the epilogue of the product computing y (with a
         * residual): y = xt + h W^T, never stored; into a buffer of its own
         * and over x's own buffer */
        int in = 6;
        float *h = fvec((size_t)k * in), *W = fvec((size_t)dim * in), *l = fvec((size_t)k * dim);
        float *yy = fvec((size_t)k * dim), *ref = fvec((size_t)n * dim);
        rt_fill(&rng, h, (size_t)k * in, -1, 1);
        rt_fill(&rng, W, (size_t)dim * in, -1, 1);
        xfrt_linear(l, h, mat_of(W, 1, dim, in), k, in, dim);
        xfrt_add(yy, xt, l, (size_t)k * dim);
        xfrt_mod_combine(ref, x, xt, yy, r, idx, n, k, dim, sig);
        for (int place = 0; place <= 1; place++)
            for (int kk = 0; kk <= k; kk += k) {
                if (place)
                    memcpy(copy, x, (size_t)n * dim * sizeof(float));
                else
                    memset(copy, 0xff, (size_t)n * dim * sizeof(float));
                XfrtLinearOut o = {.y = copy, .cols = dim, .W = mat_of(W, 1, dim, in), .act = -1, .res = xt, .rows = idx,
                                   .base = place ? copy : x, .mod_xt = xt, .mod_r = r, .mod_sigmoid = sig};
                xfrt_mod_linear_fused(h, kk, in, NULL, &o, n);
                assert_memory_equal(copy, kk ? ref : x, (size_t)n * dim * sizeof(float));
            }
        free(h), free(W), free(l), free(yy), free(ref);
        free(copy);
    }
    free(x), free(xt), free(y), free(out), free(want);
}

/* ---- sparse FFN -------------------------------------------------------------- */

static void test_sffn(void **state)
{
    (void)state;
    RtRng rng = {11};
    int n = 7, dim = 17, block = 3, groups = 5, hidden = block * groups;
    float *c = fvec((size_t)n * hidden), *x = fvec((size_t)n * dim);
    float *W1 = fvec((size_t)hidden * dim), *W2 = fvec((size_t)dim * hidden);
    float b1[15], b2[17], *y = fvec((size_t)n * dim);
    double *want = dvec((size_t)n * dim), *scale = dvec((size_t)n * dim);
    int32_t sel[7 * 5];
    for (int i = 0; i < n * hidden; i++)
        c[i] = (float)rt_below(&rng, 3);    /* ties */
    xfrt_sffn_select(sel, c, n, hidden, block);
    for (int t = 0; t < n; t++)
        for (int m = 0; m < groups; m++) {
            int best = 0;
            for (int j = 1; j < block; j++)
                if (c[t * hidden + m * block + j] > c[t * hidden + m * block + best])
                    best = j;
            assert_int_equal(sel[t * groups + m], m * block + best);
        }
    rt_fill(&rng, x, (size_t)n * dim, -1, 1);
    rt_fill(&rng, W1, (size_t)hidden * dim, -1, 1);
    rt_fill(&rng, W2, (size_t)dim * hidden, -1, 1);
    rt_fill(&rng, b1, 15, -0.5f, 0.5f);
    rt_fill(&rng, b2, 17, -0.5f, 0.5f);
    /* only the chosen rows of W1 and columns of W2 may be read: token 0's
     * choices are kept, every other unit is poisoned */
    xfrt_sffn_select(sel, c, 1, hidden, block);
    for (int j = 0; j < hidden; j++) {
        int chosen = 0;
        for (int m = 0; m < groups; m++)
            chosen |= sel[m] == j;
        if (chosen)
            continue;
        for (int d = 0; d < dim; d++)
            W1[j * dim + d] = W2[d * hidden + j] = NAN;
    }
    for (int withb = 0; withb <= 1; withb++) {
        for (int t = 0; t < n; t++)
            for (int d = 0; d < dim; d++) {
                double s = withb ? b2[d] : 0, sc = fabs(s);
                for (int m = 0; m < groups; m++) {
                    int j = sel[m];
                    double h = withb ? b1[j] : 0;
                    for (int e = 0; e < dim; e++)
                        h += (double)x[t * dim + e] * W1[j * dim + e];
                    if (h > 0)
                        s += h * W2[d * hidden + j], sc += fabs(h * W2[d * hidden + j]) + 1e-4;
                }
                want[t * dim + d] = s;
                scale[t * dim + d] = sc;
            }
        int32_t same[7 * 5];
        for (int t = 0; t < n; t++)
            memcpy(same + t * groups, sel, groups * sizeof(int32_t));
        xfrt_sffn_apply(y, x, same, W1, withb ? b1 : NULL, W2, withb ? b2 : NULL, n, dim, hidden,
                        groups);
        check_close("sffn", y, want, scale, (size_t)n * dim, 1e-5, 1e-7);
    }
    xfrt_sffn_select(sel, c, 0, hidden, block);
    xfrt_sffn_apply(y, x, sel, W1, b1, W2, b2, 0, dim, hidden, groups);
    free(c), free(x), free(W1), free(W2), free(y), free(want), free(scale);
}

#define RT_ROUTE_TESTS                               \
    cmocka_unit_test(test_moe),                      \
    cmocka_unit_test(test_mod_select),               \
    cmocka_unit_test(test_mod_gather_combine),       \
    cmocka_unit_test(test_sffn),

#endif
