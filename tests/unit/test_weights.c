/* test_weights.c - `--init-weights`: the file reopens with the runtime reader,
 * holds every weight with its shape, is deterministic for a seed, and has
 * norms at 1, biases at 0 and small random matrices. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ir/ir.h"
#include "runtime/xfrt.h"

static char path[512], path2[512];

typedef struct {
    const char *name;
    int         rank;
    int64_t     dim[3];
} Spec;

static const Spec specs[] = {
    {"embed", 2, {32, 8}},
    {"norm.weight", 1, {8}},
    {"norm.bias", 1, {8}},
    {"lm_head", 2, {32, 8}},
    {"blocks.0.0.norm.weight", 1, {8}},
    {"blocks.0.0.norm.bias", 1, {8}},
    {"blocks.0.0.attn.wq", 2, {8, 8}},
    {"blocks.0.0.attn.bq", 1, {8}},
    {"blocks.0.0.attn.bo", 1, {8}},
    {"blocks.0.1.ffn.w1", 2, {17, 8}},
    {"blocks.0.1.ffn.b1", 1, {17}},
    {"blocks.0.1.ffn.w2", 2, {8, 17}},
    {"blocks.0.1.ffn.b2", 1, {8}},
    {"blocks.0.1.ffn.b3", 1, {17}},
    {"blocks.1.0.moe.router", 2, {4, 8}},
    {"blocks.1.0.moe.w1", 3, {4, 16, 8}},
    {"blocks.1.0.moe.w2", 3, {4, 8, 16}},
    {"blocks.1.mod.router", 2, {1, 8}},
    {"blocks.1.1.sffn.c1", 2, {3, 8}},
    {"blocks.1.1.sffn.b2", 1, {8}},
    {"pos_embed", 2, {5, 8}},
};
#define N_SPECS (sizeof specs / sizeof *specs)

static XfGraph *make_graph(size_t n_specs)
{
    XfGraph *g = ir_graph_new();
    XfLoc loc = {1, 1, 1};
    for (size_t i = 0; i < n_specs; i++)
        ir_weight_add(g, specs[i].name, specs[i].rank, specs[i].dim, loc);
    return g;
}

static void write_weights(const XfGraph *g, const char *p, uint64_t seed)
{
    char err[256] = "";
    if (!ir_weights_init(g, p, seed, XF_DTYPE_F32, err, sizeof err))
        fail_msg("ir_weights_init: %s", err);
}

static unsigned char *slurp(const char *p, size_t *size)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*size + 1);
    assert_int_equal(fread(buf, 1, *size, f), *size);
    fclose(f);
    return buf;
}

static int64_t elems(const Spec *s)
{
    int64_t e = 1;
    for (int d = 0; d < s->rank; d++)
        e *= s->dim[d];
    return e;
}

static void test_contents(void **state)
{
    (void)state;
    XfGraph *g = make_graph(N_SPECS);
    write_weights(g, path, 7);
    XfrtSafetensors st;
    char err[256];
    assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), 0);
    assert_int_equal(st.n_tensors, (int)N_SPECS);
    for (size_t i = 0; i < N_SPECS; i++) {
        const Spec *s = &specs[i];
        const float *p;
        if (xfrt_st_get(&st, s->name, s->rank, s->dim, &p, err, sizeof err) != 0)
            fail_msg("%s", err);
        int64_t count = elems(s);
        const char *name = s->name;
        size_t len = strlen(name);
        int is_norm_w = len >= 11 && strcmp(name + len - 11, "norm.weight") == 0;
        int is_zero = (len >= 9 && strcmp(name + len - 9, "norm.bias") == 0) ||
                      (name[len - 3] == '.' && name[len - 2] == 'b');
        double a = strstr(name, "embed") ? 0.5 : 1.0 / sqrt((double)s->dim[s->rank - 1]);
        double sum = 0, sq = 0;
        for (int64_t k = 0; k < count; k++) {
            if (is_norm_w)
                assert_true(p[k] == 1.0f);
            else if (is_zero)
                assert_true(p[k] == 0.0f);
            else
                assert_true(fabsf(p[k]) <= (float)a);
            sum += p[k];
            sq += (double)p[k] * p[k];
        }
        if (!is_norm_w && !is_zero && count >= 32) {
            /* uniform(-a, a): mean 0, variance a^2/3; loose bounds */
            double mean = sum / count, var = sq / count - mean * mean;
            if (!(fabs(mean) < 0.3 * a) || !(var > 0.15 * a * a && var < 0.55 * a * a))
                fail_msg("%s: mean %g variance %g for a = %g", name, mean, var, a);
        }
        if (!is_norm_w && !is_zero)
            assert_true(sq > 0);
    }
    xfrt_st_close(&st);

    /* layout: data starts 8-aligned, tensors back to back in name order */
    size_t size;
    unsigned char *buf = slurp(path, &size);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--)
        hlen = hlen << 8 | buf[k];
    assert_int_equal((8 + hlen) % 8, 0);
    assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), 0);
    uint64_t end = 0;
    for (int i = 0; i < st.n_tensors; i++) {   /* sorted by name after open */
        assert_int_equal(st.tensors[i].begin, end);
        end = st.tensors[i].end;
    }
    assert_int_equal(end, st.data_size);
    xfrt_st_close(&st);
    free(buf);
    ir_graph_free(g);
}

static void test_deterministic(void **state)
{
    (void)state;
    XfGraph *g = make_graph(N_SPECS);
    size_t s1, s2;
    write_weights(g, path, 42);
    write_weights(g, path2, 42);
    unsigned char *a = slurp(path, &s1), *b = slurp(path2, &s2);
    assert_int_equal(s1, s2);
    assert_memory_equal(a, b, s1);
    free(b);
    write_weights(g, path2, 43);
    b = slurp(path2, &s2);
    assert_int_equal(s1, s2);
    assert_memory_not_equal(a, b, s1);
    free(a), free(b);

    /* a tensor's values do not depend on the other tensors */
    XfGraph *small = make_graph(4);
    write_weights(small, path2, 42);
    XfrtSafetensors x, y;
    char err[256];
    assert_int_equal(xfrt_st_open(&x, path, err, sizeof err), 0);
    assert_int_equal(xfrt_st_open(&y, path2, err, sizeof err), 0);
    const float *p, *q;
    assert_int_equal(xfrt_st_get(&x, "lm_head", 2, specs[3].dim, &p, err, sizeof err), 0);
    assert_int_equal(xfrt_st_get(&y, "lm_head", 2, specs[3].dim, &q, err, sizeof err), 0);
    assert_memory_equal(p, q, 32 * 8 * sizeof(float));
    xfrt_st_close(&x), xfrt_st_close(&y);
    ir_graph_free(small);
    ir_graph_free(g);
}

static void test_duplicates_and_escapes(void **state)
{
    (void)state;
    XfGraph *g = ir_graph_new();
    XfLoc loc = {1, 1, 1};
    int64_t d4[1] = {4}, d5[1] = {5};
    ir_weight_add(g, "tied", 1, d4, loc);
    ir_weight_add(g, "tied", 1, d4, loc);
    ir_weight_add(g, "odd\"name\\x", 1, d4, loc);
    write_weights(g, path, 1);
    XfrtSafetensors st;
    char err[256];
    const float *p;
    assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), 0);
    assert_int_equal(st.n_tensors, 2);
    assert_int_equal(xfrt_st_get(&st, "odd\"name\\x", 1, d4, &p, err, sizeof err), 0);
    xfrt_st_close(&st);
    ir_weight_add(g, "tied", 1, d5, loc);
    assert_false(ir_weights_init(g, path, 1, XF_DTYPE_F32, err, sizeof err));
    assert_non_null(strstr(err, "tied"));
    ir_graph_free(g);

    g = make_graph(2);
    assert_false(
        ir_weights_init(g, XF_BINARY_DIR "/no/such/dir/w.safetensors", 1, XF_DTYPE_F32, err, sizeof err));
    ir_graph_free(g);
}

int main(void)
{
    snprintf(path, sizeof path, "%s/test_weights_%ld.safetensors", XF_BINARY_DIR, (long)getpid());
    snprintf(path2, sizeof path2, "%s/test_weights2_%ld.safetensors", XF_BINARY_DIR,
             (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contents),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_duplicates_and_escapes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(path);
    remove(path2);
    return rc;
}
