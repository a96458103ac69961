/* test_rt_safetensors.c - the safetensors reader: valid files, one test per
 * kind of malformed file (each message must name what is wrong), unaligned
 * data, and a mutation fuzzer that must never read out of bounds. */
#include <errno.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "runtime/xfrt.h"
#include "runtime/xfrt_wfmt.h"
#include "rt_test.h"

static char path[512];

/* Opens header+data written to the test file; expects failure whose message
 * contains `want`. */
static void expect_open_fails(const char *header, const void *data, size_t data_size,
                              const char *want)
{
    XfrtSafetensors st;
    char err[512] = "";
    rt_st_write(path, header, 0, data, data_size);
    int rc = xfrt_st_open(&st, path, err, sizeof err);
    if (rc == 0 || !strstr(err, want))
        fail_msg("header %s: rc %d, message \"%s\", wanted \"%s\"", header, rc, err, want);
    xfrt_st_close(&st);     /* harmless after a failed open */
}

/* Opens and expects success; the caller closes. */
static void open_ok(XfrtSafetensors *st, const char *header, size_t pad, const void *data,
                    size_t data_size)
{
    char err[512] = "";
    rt_st_write(path, header, pad, data, data_size);
    if (xfrt_st_open(st, path, err, sizeof err) != 0)
        fail_msg("header %s: %s", header, err);
}

static const float vals[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static void test_valid(void **state)
{
    (void)state;
    XfrtSafetensors st;
    unsigned char data[41];
    memcpy(data, vals, sizeof vals);
    data[40] = 7;
    open_ok(&st,
            "{\"__metadata__\":{\"format\":\"pt\",\"n\":[1,{\"x\":null}]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
            "\"b\":{\"shape\":[4],\"data_offsets\":[24,40],\"dtype\":\"F32\",\"extra\":true},"
            "\"unused\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[40,41]}}",
            5, data, sizeof data);
    assert_int_equal(st.n_tensors, 3);
    const float *a, *b;
    char err[256];
    int64_t da[2] = {2, 3}, db[1] = {4};
    assert_int_equal(xfrt_st_get(&st, "a", 2, da, &a, err, sizeof err), 0);
    assert_int_equal(xfrt_st_get(&st, "b", 1, db, &b, err, sizeof err), 0);
    for (int i = 0; i < 6; i++)
        assert_true(a[i] == vals[i]);
    for (int i = 0; i < 4; i++)
        assert_true(b[i] == vals[6 + i]);
    xfrt_st_close(&st);
    assert_null(st.map);
}

static void test_empty_and_zero_size(void **state)
{
    (void)state;
    XfrtSafetensors st;
    open_ok(&st, "{}", 0, NULL, 0);
    assert_int_equal(st.n_tensors, 0);
    xfrt_st_close(&st);
    open_ok(&st,
            "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
            "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
            0, vals, 4);
    const float *z;
    char err[256];
    int64_t dz[2] = {0, 3};
    assert_int_equal(xfrt_st_get(&st, "z", 2, dz, &z, err, sizeof err), 0);
    assert_non_null(z);
    xfrt_st_close(&st);
}

static void test_escaped_names(void **state)
{
    (void)state;
    XfrtSafetensors st;
    open_ok(&st,
            "{\"blocks\\u002e0\\/w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
            "\"\\u00e9\\ud83d\\ude00\\n\":"
            "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
            0, vals, 8);
    const float *w;
    char err[256];
    int64_t d[1] = {1};
    assert_int_equal(xfrt_st_get(&st, "blocks.0/w", 1, d, &w, err, sizeof err), 0);
    assert_true(w[0] == 1.0f);
    assert_int_equal(xfrt_st_get(&st, "\xc3\xa9\xf0\x9f\x98\x80\n", 1, d, &w, err, sizeof err), 0);
    assert_true(w[0] == 2.0f);
    xfrt_st_close(&st);
}

static void test_missing(void **state)
{
    (void)state;
    XfrtSafetensors st;
    open_ok(&st, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, vals, 4);
    const float *p = vals;
    char err[256];
    int64_t d[1] = {1};
    assert_int_equal(xfrt_st_get(&st, "embed", 1, d, &p, err, sizeof err), -1);
    assert_string_equal(err, "tensor embed: missing");
    assert_null(p);
    assert_int_equal(xfrt_st_get(&st, "", 1, d, &p, err, sizeof err), -1);
    assert_int_equal(xfrt_st_get(&st, "b", 1, d, &p, err, sizeof err), -1);
    xfrt_st_close(&st);
}

static void test_wrong_shape(void **state)
{
    (void)state;
    XfrtSafetensors st;
    open_ok(&st,
            "{\"blocks.0.1.ffn.w1\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
            0, vals, 24);
    const float *p;
    char err[256];
    int64_t want[2] = {3, 2}, want3[3] = {2, 3, 1};
    assert_int_equal(xfrt_st_get(&st, "blocks.0.1.ffn.w1", 2, want, &p, err, sizeof err), -1);
    assert_string_equal(err, "tensor blocks.0.1.ffn.w1: shape [2, 3] expected [3, 2]");
    assert_int_equal(xfrt_st_get(&st, "blocks.0.1.ffn.w1", 3, want3, &p, err, sizeof err), -1);
    assert_string_equal(err, "tensor blocks.0.1.ffn.w1: shape [2, 3] expected [2, 3, 1]");
    xfrt_st_close(&st);
}

static void test_wrong_dtype(void **state)
{
    (void)state;
    XfrtSafetensors st;
    /* dtypes the file format knows but a model cannot use, through every lookup */
    static const char *const wrong[] = {"I32", "U32", "I16", "U16", "F8_E4M3", "BOOL"};
    for (size_t k = 0; k < sizeof wrong / sizeof *wrong; k++) {
        char h[160], want[96];
        int bytes = k < 2 ? 4 : k < 4 ? 2 : 1;
        snprintf(h, sizeof h, "{\"embed\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,%d]}}",
                 wrong[k], 2 * bytes);
        open_ok(&st, h, 0, vals, (size_t)(2 * bytes));
        const float *p;
        const void *raw;
        int dt;
        char err[256];
        int64_t d[1] = {2};
        snprintf(want, sizeof want, "tensor embed: dtype %s, expected F32, BF16 or F16", wrong[k]);
        assert_int_equal(xfrt_st_get(&st, "embed", 1, d, &p, err, sizeof err), -1);
        assert_string_equal(err, want);
        assert_int_equal(xfrt_st_get_raw(&st, "embed", 1, d, &raw, &dt, err, sizeof err), -1);
        assert_string_equal(err, want);
        assert_int_equal(xfrt_st_get_converted(&st, "embed", 1, d, XFRT_WF_Q8, &p, err, sizeof err), -1);
        assert_string_equal(err, want);
        assert_null(p);
        xfrt_st_close(&st);
    }
    expect_open_fails("{\"q\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", vals, 4,
                      "tensor q: unknown dtype F33");
}

static void test_bad_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                                     /* empty header */
        "{",
        "[]",
        "null",
        "{\"a\" 1}",
        "{\"a\":}",
        "{'a':1}",
        "{\"__metadata__\":{},}",               /* trailing comma */
        "{\"__metadata__\":[1,]}",
        "{\"__metadata__\":[1 2]}",
        "{\"__metadata__\":\"abc}",             /* unterminated string */
        "{\"__metadata__\":\"a\\x\"}",          /* bad escape */
        "{\"__metadata__\":\"a\tb\"}",          /* raw control character */
        "{\"__metadata__\":\"\\u12\"}",
        "{\"__metadata__\":\"\\ud800\"}",       /* lone high surrogate */
        "{\"__metadata__\":\"\\udc00\"}",       /* lone low surrogate */
        "{\"__metadata__\":\"\xc3\"}",          /* truncated UTF-8 */
        "{\"__metadata__\":\"\xc0\xaf\"}",      /* overlong UTF-8 */
        "{\"__metadata__\":\"\xed\xa0\x80\"}",  /* UTF-8 surrogate */
        "{\"__metadata__\":\"\xff\"}",
        "{\"__metadata__\":01}",
        "{\"__metadata__\":1.}",
        "{\"__metadata__\":-}",
        "{\"__metadata__\":1e}",
        "{\"__metadata__\":.5}",
        "{\"__metadata__\":+1}",
        "{\"__metadata__\":tru}",
        "{\"__metadata__\":nulll}",
        "{\"__metadata__\":NaN}",
        "{} x",                                 /* trailing characters */
        "{}{}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}",
        "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_open_fails(bad[i], vals, 4, "header: invalid JSON at byte ");
    /* nesting deeper than the limit */
    char deep[512] = "{\"__metadata__\":";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    expect_open_fails(deep, vals, 4, "nested too deeply");
    expect_open_fails("{\"a\" 1}", vals, 4, "header: invalid JSON at byte 5: expected ':'");
}

static void test_bad_structure(void **state)
{
    (void)state;
    expect_open_fails("{\"a\":[]}", vals, 4, "tensor a: entry is not an object");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", vals, 4,
                      "tensor a: entry has no \"data_offsets\"");
    expect_open_fails("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", vals, 4,
                      "tensor a: entry has no \"dtype\"");
    expect_open_fails("{\"a\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}", vals, 4,
                      "tensor a: dtype is not a string");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", vals, 4,
                      "tensor a: shape is not");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", vals, 4,
                      "tensor a: shape is not");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", vals,
                      4, "tensor a: shape is not");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", vals, 4,
                      "tensor a: shape is not");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                      "\"data_offsets\":[0,4]}}", vals, 4, "tensor a: shape is not");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
                      "\"data_offsets\":[0,4]}}", vals, 4, "tensor a: shape is not");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                      "\"data_offsets\":[0,4]}}", vals, 4, "tensor a: shape too large");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", vals, 4,
                      "tensor a: data_offsets is not [begin, end]");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", vals,
                      4, "tensor a: data_offsets is not");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
                      "\"data_offsets\":[0,4]}}", vals, 4, "tensor a: duplicate key \"dtype\"");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", vals, 8,
                      "tensor a: data_offsets [0, 4] hold 4 bytes, F32 [2] needs 8");
}

static void test_header_length_past_eof(void **state)
{
    (void)state;
    size_t size;
    unsigned char *buf = rt_st_bytes("{}", 0, vals, 8, &size);
    buf[0] = 200;
    rt_write(path, buf, size);
    XfrtSafetensors st;
    char err[256];
    assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "header length 200 past the end of the file (18 bytes)"));
    buf[7] = 0xFF;      /* a huge length must not wrap around */
    rt_write(path, buf, size);
    assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "past the end of the file"));
    free(buf);
}

static void test_file_too_short(void **state)
{
    (void)state;
    XfrtSafetensors st;
    char err[256];
    for (size_t len = 0; len < 8; len++) {
        rt_write(path, "\x02\0\0\0\0\0\0\0", len);
        assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), -1);
        assert_non_null(strstr(err, "file too short"));
    }
    assert_int_equal(xfrt_st_open(&st, XF_BINARY_DIR "/no/such/file", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(xfrt_st_open(&st, XF_BINARY_DIR, err, sizeof err), -1);
}

static void test_offsets_out_of_bounds(void **state)
{
    (void)state;
    expect_open_fails("{\"lm_head\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}",
                      vals, 16,
                      "tensor lm_head: data_offsets [0, 400] outside the data (16 bytes)");
    expect_open_fails("{\"lm_head\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[17,17]}}",
                      vals, 16, "tensor lm_head: data_offsets [17, 17] outside the data");
    expect_open_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", vals, 16,
                      "tensor x: data_offsets [8, 4] are reversed (end before begin)");
    /* reversed is reported as such even when both ends lie outside the data */
    expect_open_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[900,800]}}", vals, 16,
                      "tensor x: data_offsets [900, 800] are reversed");
    expect_open_fails("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],"
                      "\"data_offsets\":[18446744073709551612,18446744073709551616]}}",
                      vals, 16, "tensor x: data_offsets is not");
}

static void test_overlap(void **state)
{
    (void)state;
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      vals, 16, "tensors a and b overlap");
    /* b lies inside a long tensor, with an unrelated one in between */
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
                      "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]}}",
                      vals, 32, "overlap");
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                      vals, 16, "tensors a and b overlap");
    /* touching and empty tensors do not overlap */
    XfrtSafetensors st;
    open_ok(&st,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
            0, vals, 16);
    xfrt_st_close(&st);
}

static void test_truncated(void **state)
{
    (void)state;
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[10],\"data_offsets\":[0,40]}}";
    size_t size;
    unsigned char *buf = rt_st_bytes(h, 0, vals, sizeof vals, &size);
    XfrtSafetensors st;
    char err[256];
    for (size_t len = 0; len < size; len++) {
        rt_write(path, buf, len);
        assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), -1);
        if (len >= 8 + strlen(h))
            assert_non_null(strstr(err, "tensor a: data_offsets [0, 40] outside the data"));
    }
    rt_write(path, buf, size);
    assert_int_equal(xfrt_st_open(&st, path, err, sizeof err), 0);
    xfrt_st_close(&st);
    free(buf);
}

static void test_duplicate(void **state)
{
    (void)state;
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                      vals, 12, "tensor a: duplicate name");
    /* the same name twice at the same bytes is a duplicate, not an overlap */
    expect_open_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                      vals, 4, "tensor a: duplicate name");
}

/* Only regular files are opened, and never in a way that blocks: a FIFO
 * without a writer would block open(2) forever (alarm() kills the test
 * instead of hanging ctest).  Messages carry the OS's reason. */
static void test_not_regular(void **state)
{
    (void)state;
    XfrtSafetensors st;
    char err[512], fifo[600];
    snprintf(fifo, sizeof fifo, "%s.fifo", path);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    assert_int_equal(xfrt_st_open(&st, fifo, err, sizeof err), -1);
    alarm(0);
    assert_non_null(strstr(err, "not a regular file"));
    unlink(fifo);
    assert_int_equal(xfrt_st_open(&st, XF_BINARY_DIR, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(xfrt_st_open(&st, "/dev/null", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(xfrt_st_open(&st, XF_BINARY_DIR "/no/such/file", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, strerror(ENOENT)));
    /* a path through a regular file: ENOTDIR */
    rt_st_write(path, "{}", 0, NULL, 0);
    char through[600];
    snprintf(through, sizeof through, "%s/x", path);
    assert_int_equal(xfrt_st_open(&st, through, err, sizeof err), -1);
    assert_non_null(strstr(err, strerror(ENOTDIR)));
}

static void test_unaligned(void **state)
{
    (void)state;
    /* data starts at 8 + header length; pad so that it is 2 mod 4, and put
     * tensor b at an odd offset within the data */
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[13,29]}}";
    for (size_t pad = 0; pad < 4; pad++) {
        unsigned char data[29];
        memcpy(data, vals, 12);
        data[12] = 0xAB;
        memcpy(data + 13, vals + 3, 16);
        XfrtSafetensors st;
        open_ok(&st, h, pad, data, sizeof data);
        const float *a, *b;
        char err[256];
        int64_t da[1] = {3}, db[2] = {2, 2};
        assert_int_equal(xfrt_st_get(&st, "a", 1, da, &a, err, sizeof err), 0);
        assert_int_equal(xfrt_st_get(&st, "b", 2, db, &b, err, sizeof err), 0);
        assert_int_equal((uintptr_t)a % 4, 0);
        assert_int_equal((uintptr_t)b % 4, 0);
        for (int i = 0; i < 3; i++)
            assert_true(a[i] == vals[i]);
        for (int i = 0; i < 4; i++)
            assert_true(b[i] == vals[3 + i]);
        /* a second lookup works too (and is freed at close) */
        assert_int_equal(xfrt_st_get(&st, "b", 2, db, &b, err, sizeof err), 0);
        assert_true(b[3] == vals[6]);
        xfrt_st_close(&st);
    }
}

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

/* BF16 and F16 tensors, at even and odd offsets: widened exactly to fp32
 * (subnormals, infinities, signed zeros), handed out as stored, and
 * converted per --weights. */
static void test_bf16_f16(void **state)
{
    (void)state;
    static const uint16_t bf[6] = {0x3f80, 0xc040, 0x0001, 0x7f80, 0x8000, 0x3f81};
    static const float bf_want[6] = {1.0f, -3.0f, 9.18354962e-41f, INFINITY, -0.0f, 1.0078125f};
    static const uint16_t hf[5] = {0x3c00, 0x0001, 0x7bff, 0xfc00, 0x83ff};
    static const float hf_want[5] = {1.0f, 5.96046448e-8f, 65504.0f, -INFINITY, -6.09755516e-5f};
    const char *h = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[1,13]},"
                    "\"b\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[13,23]},"
                    "\"c\":{\"dtype\":\"F32\",\"shape\":[2,40],\"data_offsets\":[23,343]},"
                    "\"d\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[344,350]}}";
    unsigned char data[350] = {0};
    for (int i = 0; i < 6; i++)
        put16(data + 1 + 2 * i, bf[i]);
    for (int i = 0; i < 5; i++)
        put16(data + 13 + 2 * i, hf[i]);
    float c[80];
    RtRng rng = {99};
    rt_fill(&rng, c, 80, -2.0f, 2.0f);
    c[5] = 0x1.01p0f;                       /* exactly halfway between two bfloat16 */
    memcpy(data + 23, c, sizeof c);
    put16(data + 344, 0x3f80), put16(data + 346, 0x4000), put16(data + 348, 0xbf81);
    int64_t da[2] = {2, 3}, db[1] = {5}, dc[2] = {2, 40}, dd[2] = {1, 3};
    for (size_t pad = 0; pad < 4; pad++) {
        XfrtSafetensors st;
        open_ok(&st, h, pad, data, sizeof data);
        const float *a, *b, *cc;
        char err[256];
        assert_int_equal(xfrt_st_get(&st, "a", 2, da, &a, err, sizeof err), 0);
        assert_int_equal(xfrt_st_get(&st, "b", 1, db, &b, err, sizeof err), 0);
        assert_int_equal((uintptr_t)a % 4, 0);
        assert_int_equal((uintptr_t)b % 4, 0);
        for (int i = 0; i < 6; i++)
            assert_true(memcmp(&a[i], &bf_want[i], 4) == 0);
        for (int i = 0; i < 5; i++)
            assert_true(memcmp(&b[i], &hf_want[i], 4) == 0);
        /* as stored: the bits, aligned to 2, and the dtype */
        const void *raw;
        int dt;
        assert_int_equal(xfrt_st_get_raw(&st, "a", 2, da, &raw, &dt, err, sizeof err), 0);
        assert_int_equal(dt, XFRT_DT_BF16);
        assert_int_equal((uintptr_t)raw % 2, 0);
        for (int i = 0; i < 6; i++)
            assert_int_equal(((const uint16_t *)raw)[i], bf[i]);
        assert_int_equal(xfrt_st_get_raw(&st, "b", 1, db, &raw, &dt, err, sizeof err), 0);
        assert_int_equal(dt, XFRT_DT_F16);
        assert_int_equal(xfrt_st_get_raw(&st, "c", 2, dc, &raw, &dt, err, sizeof err), 0);
        assert_int_equal(dt, XFRT_DT_F32);
        assert_int_equal((uintptr_t)raw % 4, 0);
        assert_true(memcmp(raw, c, sizeof c) == 0);
        /* bf16: a BF16 tensor is its own w'; F32 values round to nearest even */
        assert_int_equal(xfrt_st_get_converted(&st, "a", 2, da, XFRT_WF_BF16, &a, err, sizeof err), 0);
        for (int i = 0; i < 6; i++)
            assert_true(memcmp(&a[i], &bf_want[i], 4) == 0);
        assert_int_equal(xfrt_st_get_converted(&st, "c", 2, dc, XFRT_WF_BF16, &cc, err, sizeof err), 0);
        for (int i = 0; i < 80; i++)
            assert_true(cc[i] == xfrt_bf16_widen(xfrt_bf16_round(c[i])));
        assert_true(cc[5] == 1.0f);         /* the tie went to the even neighbour */
        /* q8 cannot scale an infinity: refused, naming the tensor and the element */
        assert_int_equal(xfrt_st_get_converted(&st, "a", 2, da, XFRT_WF_Q8, &a, err, sizeof err), -1);
        assert_string_equal(err, "tensor a: element 3 is inf; --weights q8 needs finite values");
        /* f32 is the plain lookup */
        assert_int_equal(xfrt_st_get_converted(&st, "c", 2, dc, XFRT_WF_F32, &cc, err, sizeof err), 0);
        assert_true(memcmp(cc, c, sizeof c) == 0);
        /* q8: each row of 40 is a block of 32 and one of 8, never one across the rows */
        assert_int_equal(xfrt_st_get_converted(&st, "c", 2, dc, XFRT_WF_Q8, &cc, err, sizeof err), 0);
        for (int r = 0; r < 2; r++) {
            int8_t q[40];
            float sc[2];
            xfrt_q8_row(c + 40 * r, 40, q, sc);
            for (int i = 0; i < 40; i++)
                assert_true(cc[40 * r + i] == xfrt_q8_value(q[i], sc[i / 32]));
        }
        float amax = 0;
        for (int i = 32; i < 40; i++)
            amax = fabsf(c[i]) > amax ? fabsf(c[i]) : amax;
        for (int i = 32; i < 40; i++)           /* the short block's own scale */
            assert_true(fabsf(cc[i] - c[i]) <= amax / 127.0f / 2.0f * 1.0001f);
        /* q8 of a BF16 tensor: of its widened values */
        assert_int_equal(xfrt_st_get_converted(&st, "d", 2, dd, XFRT_WF_Q8, &cc, err, sizeof err), 0);
        float dv[3] = {1.0f, 2.0f, xfrt_bf16_widen(0xbf81)};
        int8_t q[3];
        float s = xfrt_q8_block(dv, 3, q);
        for (int i = 0; i < 3; i++)
            assert_true(cc[i] == xfrt_q8_value(q[i], s));
        assert_true(cc[1] == 2.0f);
        /* a wrong shape is refused by the converting lookup too */
        assert_int_equal(xfrt_st_get_converted(&st, "c", 2, da, XFRT_WF_Q8, &cc, err, sizeof err), -1);
        assert_string_equal(err, "tensor c: shape [2, 40] expected [2, 3]");
        xfrt_st_close(&st);
    }
    /* a BF16 or F16 tensor whose offsets do not hold 2 bytes an element */
    expect_open_fails("{\"h\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,5]}}", vals, 8,
                      "tensor h: data_offsets [0, 5] hold 5 bytes, BF16 [3] needs 6");
    expect_open_fails("{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", vals, 16,
                      "tensor h: data_offsets [0, 16] hold 16 bytes, F16 [2, 2] needs 8");
}

/* ---- fuzzing ------------------------------------------------------------ */

/* Touches every byte of every tensor the file claims, through the API. */
static double read_all(XfrtSafetensors *st)
{
    double sum = 0;
    for (int k = 0; k < st->n_tensors; k++) {
        const XfrtTensorInfo *t = &st->tensors[k];
        assert_true(t->begin <= t->end && t->end <= st->data_size);
        if (t->dtype == XFRT_DT_OTHER)
            continue;
        const float *p;
        char err[256];
        assert_int_equal(xfrt_st_get(st, t->name, t->rank, t->dim, &p, err, sizeof err), 0);
        size_t count = (size_t)(t->end - t->begin) / (t->dtype == XFRT_DT_F32 ? 4 : 2);
        for (size_t i = 0; i < count; i++)
            sum += p[i] == p[i] ? p[i] : 0.0;
        for (int fmt = XFRT_WF_BF16; fmt <= XFRT_WF_Q8; fmt++) {
            if (xfrt_st_get_converted(st, t->name, t->rank, t->dim, fmt, &p, err, sizeof err) != 0) {
                assert_int_equal(fmt, XFRT_WF_Q8);      /* only q8 refuses: an inf or NaN */
                assert_non_null(strstr(err, "needs finite values"));
                continue;
            }
            for (size_t i = 0; i < count; i++)
                sum += p[i] == p[i] ? p[i] : 0.0;
        }
    }
    return sum;
}

static void test_fuzz(void **state)
{
    (void)state;
    const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"list\":[1,-2.5e3,true,false,null,"
                    "\"\\u00e9\\ud83d\\ude00\"]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                    "\"b.c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[24,28]},"
                    "\"d\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[28,31]},"
                    "\"e\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[31,35]},"
                    "\"f\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[35,39]}}";
    unsigned char data[40];
    memcpy(data, vals, sizeof vals);
    size_t size;
    unsigned char *base = rt_st_bytes(h, 3, data, sizeof data, &size);
    unsigned char *buf = malloc(size + 64);
    RtRng rng = {12345};
    int opened = 0;
    for (int iter = 0; iter < 4000; iter++) {
        memcpy(buf, base, size);
        size_t len = size;
        int kind = rt_below(&rng, 4);
        int flips = 1 + rt_below(&rng, 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)rt_below(&rng, (int)len);
            if (kind == 0)
                buf[at] ^= (unsigned char)(1u << rt_below(&rng, 8));
            else if (kind == 1) {
                static const char chars[] = "{}[]\",:0123456789-.eE \\u";
                buf[at] = (unsigned char)chars[rt_below(&rng, (int)sizeof chars - 1)];
            } else if (kind == 2)
                buf[at] = (unsigned char)rt_below(&rng, 256);
        }
        if (kind == 3 || rt_below(&rng, 8) == 0)
            len = (size_t)rt_below(&rng, (int)len + 1);
        if (rt_below(&rng, 16) == 0 && len >= 8)
            buf[rt_below(&rng, 8)] ^= (unsigned char)(1u << rt_below(&rng, 8));
        rt_write(path, buf, len);
        XfrtSafetensors st;
        char err[512] = "";
        if (xfrt_st_open(&st, path, err, sizeof err) == 0) {
            opened++;
            (void)read_all(&st);
            xfrt_st_close(&st);
        } else
            assert_true(err[0] != '\0');
    }
    assert_true(opened > 0);
    free(buf);
    free(base);
}

int main(void)
{
    rt_tmp_path(path, sizeof path, "st");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_empty_and_zero_size),
        cmocka_unit_test(test_escaped_names),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_structure),
        cmocka_unit_test(test_header_length_past_eof),
        cmocka_unit_test(test_file_too_short),
        cmocka_unit_test(test_offsets_out_of_bounds),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_duplicate),
        cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_bf16_f16),
        cmocka_unit_test(test_fuzz),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(path);
    return rc;
}
