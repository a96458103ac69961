/* test_rt_wfmt.c - the exact weight-format conversions of runtime/xfrt_wfmt.h
 * against independent formulations written here (ldexp, integer arithmetic). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/xfrt_wfmt.h"

/* Every F16 bit pattern, widened, against sign * m * 2^(e - 25) from its fields. */
static void test_f16_widen_all(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        float got = xfrt_f16_widen((uint16_t)h);
        if (e == 31) {
            if (m)
                assert_true(isnan(got));
            else
                assert_true(isinf(got) && (signbit(got) != 0) == sign);
            continue;
        }
        double want = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        want = sign ? -want : want;
        assert_true((double)got == want);
        assert_true((signbit(got) != 0) == sign);
    }
}

/* Nearest bfloat16, ties to even, checked against the two neighbours. */
static void test_bf16_round(void **state)
{
    (void)state;
    uint32_t x = 12345;
    for (int i = 0; i < 200000; i++) {
        x = x * 1664525u + 1013904223u;
        float f = xfrt_bits_f32(x);
        if (isnan(f) || isinf(f))
            continue;
        uint16_t b = xfrt_bf16_round(f);
        uint32_t lo = x & 0xffff0000u, hi = lo + 0x10000u;
        /* hi's magnitude as if the exponent went on (past the largest, 2^128) */
        double vlo = fabs((double)xfrt_bits_f32(lo));
        double vhi = isinf(xfrt_bits_f32(hi)) ? ldexp(1, 128) : fabs((double)xfrt_bits_f32(hi));
        double dlo = fabs(fabs((double)f) - vlo), dhi = fabs(fabs((double)f) - vhi);
        uint16_t want = (uint16_t)((dlo < dhi || (dlo == dhi && !((lo >> 16) & 1))) ? lo >> 16 : hi >> 16);
        if ((x & 0xffff) == 0)
            want = (uint16_t)(x >> 16);
        assert_int_equal(b, want);
    }
    assert_int_equal(xfrt_bf16_round(xfrt_bits_f32(0x3f808000u)), 0x3f80);   /* tie, even below */
    assert_int_equal(xfrt_bf16_round(xfrt_bits_f32(0x3f818000u)), 0x3f82);   /* tie, even above */
    assert_int_equal(xfrt_bf16_round(xfrt_bits_f32(0x3f808001u)), 0x3f81);
    assert_int_equal(xfrt_bf16_round(xfrt_bits_f32(0x7f7fffffu)), 0x7f80);   /* past the largest: inf */
    assert_true(isnan(xfrt_bf16_widen(xfrt_bf16_round(NAN))));
    assert_true(xfrt_bf16_widen(xfrt_bf16_round(-0.0f)) == 0.0f && signbit(xfrt_bf16_widen(xfrt_bf16_round(-0.0f))));
}

/* q8 blocks: scale max|w| / 127, halves away from zero, a short last block,
 * an all-zero block. */
static void test_q8_row(void **state)
{
    (void)state;
    enum { COLS = 70 };     /* blocks of 32, 32 and 6 */
    float w[COLS];
    int8_t q[COLS];
    float s[3];
    for (int i = 0; i < COLS; i++)
        w[i] = (float)((i * 37) % 23 - 11) * 0.125f;
    for (int i = 32; i < 64; i++)
        w[i] = 0.0f;
    w[5] = -2.0f;                       /* block 0's max |w| */
    xfrt_q8_row(w, COLS, q, s);
    assert_true(s[0] == 2.0f / 127.0f);
    assert_true(s[1] == 0.0f);
    for (int i = 32; i < 64; i++)
        assert_int_equal(q[i], 0);
    float amax = 0;
    for (int i = 64; i < COLS; i++)
        amax = fabsf(w[i]) > amax ? fabsf(w[i]) : amax;
    assert_true(s[2] == amax / 127.0f);
    for (int b = 0; b < 3; b++)
        for (int i = b * 32; i < (b + 1) * 32 && i < COLS; i++) {
            if (s[b] == 0.0f)
                continue;
            float r = w[i] / s[b];
            double fl = floor(fabs((double)r)), want = fabs((double)r) - fl >= 0.5 ? fl + 1 : fl;
            want = r < 0 ? -want : want;
            want = want > 127 ? 127 : want < -127 ? -127 : want;
            assert_int_equal(q[i], (int)want);
        }
    assert_int_equal(q[5], -127);
    /* a half exactly: 63.5 * s rounds away from zero to 64 */
    float h[2] = {127.0f, 63.5f};
    int8_t hq[2];
    float hs = xfrt_q8_block(h, 2, hq);
    assert_true(hs == 1.0f);
    assert_int_equal(hq[1], 64);
    assert_true(xfrt_q8_value(hq[1], hs) == 64.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_widen_all),
        cmocka_unit_test(test_bf16_round),
        cmocka_unit_test(test_q8_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
