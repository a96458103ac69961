/* test_rt_vmath.c - the vector math of runtime/xfrt_vmath.h against double
 * precision, over the whole useful range of each function, at the ISA this
 * file is compiled for (tests/CMakeLists.txt also builds it with
 * -march=native).  The bounds below are the stated accuracy: a change that
 * degrades it fails here.  Measured (this build prints its own figures):
 * exp <= 1.0 ulp, silu <= 2.0, gelu <= 7.7, gelu_tanh <= 26 on plain C,
 * AVX2, AVX-512 and NEON (under qemu). */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/xfrt_isa.h"
#include "runtime/xfrt_vmath.h"

enum { F_EXP, F_SILU, F_GELU, F_GELU_TANH };

static double ref(int f, double x)
{
    switch (f) {
    case F_EXP: return exp(x);
    case F_SILU: return x / (1 + exp(-x));
    case F_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    default: {   /* 0.5 x (1 + tanh(u)) without the cancellation of 1 + tanh(u) */
        double u = 0.79788456080286536 * (x + 0.044715 * x * x * x);
        return x / (1 + exp(-2 * u));
    }
    }
}

static XfrtV vf(int f, XfrtV x)
{
    switch (f) {
    case F_EXP: return xfrt_v_exp(x);
    case F_SILU: return xfrt_v_silu(x);
    case F_GELU: return xfrt_v_gelu(x);
    default: return xfrt_v_gelu_tanh(x);
    }
}

/* The error in units of the last place of the true value; for exp a
 * denormal result's ulp is 2^-149, for the activations values below 2^-20
 * count with the ulp of 2^-20 (their absolute error is what matters). */
static double ulp_err(int f, float got, double want)
{
    double a = fabs(want), floor_ = f == F_EXP ? FLT_MIN : 0x1p-20;
    int e;
    if (a < floor_)
        a = floor_;
    frexp(a, &e);
    double ulp = f == F_EXP && fabs(want) < FLT_MIN ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)got - want) / ulp;
}

/* every 509th float in [lo, hi) (the figures above: every 97th) */
static double sweep(int f, float lo, float hi, float *worst_x)
{
    double worst = 0;
    float buf[XFRT_VW], out[XFRT_VW];
    float x = lo;
    while (x < hi) {
        for (int i = 0; i < XFRT_VW; i++) {
            buf[i] = x;
            uint32_t b;
            memcpy(&b, &x, sizeof b);
            if (x > 0 || (x == 0 && !signbit(x)))
                b += 509;
            else
                b = b - 509 > 0x80000000u ? b - 509 : 0;
            memcpy(&x, &b, sizeof b);
        }
        xfrt_v_store(out, vf(f, xfrt_v_load(buf)));
        for (int i = 0; i < XFRT_VW; i++) {
            double want = ref(f, buf[i]);
            if (fabs(want) > FLT_MAX) {     /* overflows: +-inf */
                if (!(isinf(out[i]) && (out[i] > 0) == (want > 0)))
                    fail_msg("%d(%.9g) = %.9g, expected inf", f, (double)buf[i], (double)out[i]);
                continue;
            }
            double u = ulp_err(f, out[i], want);
            if (!(u <= worst)) {
                worst = u;
                *worst_x = buf[i];
            }
        }
    }
    return worst;
}

static void test_accuracy(void **state)
{
    (void)state;
    static const char *name[] = {"exp", "silu", "gelu", "gelu_tanh"};
    static const float lo[] = {-104, -100, -100, -100}, hi[] = {89, 100, 100, 100};
    static const double bound[] = {1.5, 3, 10, 40};
    for (int f = F_EXP; f <= F_GELU_TANH; f++) {
        float wx = 0;
        double w = sweep(f, lo[f], hi[f], &wx);
        printf("%s %s: max %.2f ulp (at %.9g), bound %.1f\n", XFRT_ISA_NAME, name[f], w, (double)wx,
               bound[f]);
        if (!(w <= bound[f]))
            fail_msg("%s: %.2f ulp at %.9g, more than %.1f", name[f], w, (double)wx, bound[f]);
    }
}

static void test_special(void **state)
{
    (void)state;
    /* exp: overflow to +inf, underflow to 0, NaN through, exp(0) exactly 1 */
    float x[] = {INFINITY, -INFINITY, NAN, 88.73f, 89.0f, 1e30f, -104.0f, -1e30f, 0.0f, -0.0f,
                 88.72f, -87.3f, -100.0f, 1e-30f, -1e-30f, 1.0f};
    float y[16];
    for (int i = 0; i < 16; i += XFRT_VW)
        xfrt_v_store(y + i, xfrt_v_exp(xfrt_v_load(x + i)));
    assert_true(isinf(y[0]) && y[0] > 0);
    assert_true(y[1] == 0.0f);
    assert_true(isnan(y[2]));
    assert_true(isinf(y[3]) && isinf(y[4]) && isinf(y[5]));
    assert_true(y[6] == 0.0f && y[7] == 0.0f);
    assert_true(y[8] == 1.0f && y[9] == 1.0f);
    for (int i = 10; i < 16; i++)
        assert_true(ulp_err(F_EXP, y[i], exp((double)x[i])) <= 1.5);
    /* the activations at the ends: as 0.5 x (1 + f(x)) in libm gives them */
    float a[] = {INFINITY, -INFINITY, NAN, 1e30f, -1e30f, 0.0f, -0.0f, 20.0f,
                 -20.0f, 1e-30f, -1e-30f, 5.0f, -5.0f, 100.0f, -100.0f, 3.0f};
    for (int f = F_SILU; f <= F_GELU_TANH; f++) {
        for (int i = 0; i < 16; i += XFRT_VW)
            xfrt_v_store(y + i, vf(f, xfrt_v_load(a + i)));
        assert_true(isinf(y[0]) && y[0] > 0);
        assert_true(isnan(y[1]) && isnan(y[2]));
        assert_true(y[3] == 1e30f && y[4] == 0.0f);
        assert_true(y[5] == 0.0f && y[6] == 0.0f);
        for (int i = 7; i < 16; i++)
            if (!(ulp_err(f, y[i], ref(f, a[i])) <= 40))
                fail_msg("%d(%.9g) = %.9g, expected %.9g", f, (double)a[i], (double)y[i], ref(f, a[i]));
    }
}

/* a partial vector (xfrt_v_loadn / storen) gives each lane the bits of a
 * whole one, and writes nothing past its end */
static void test_tails(void **state)
{
    (void)state;
    float x[XFRT_VW + 1], full[XFRT_VW], part[XFRT_VW + 1];
    for (int i = 0; i <= XFRT_VW; i++)
        x[i] = -3.0f + 0.37f * (float)i;
    for (int f = F_EXP; f <= F_GELU_TANH; f++) {
        xfrt_v_store(full, vf(f, xfrt_v_load(x)));
        for (int n = 1; n < XFRT_VW; n++) {
            for (int i = 0; i <= XFRT_VW; i++)
                part[i] = 12345.0f;
            xfrt_v_storen(part, vf(f, xfrt_v_loadn(x, n)), n);
            assert_memory_equal(part, full, (size_t)n * sizeof(float));
            assert_true(part[n] == 12345.0f);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_special),
        cmocka_unit_test(test_tails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
