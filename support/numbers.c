/* numbers.c - exact decimals and overflow-checked integer arithmetic.
 * Capacities are decimals in the source; every count derived from one is an
 * exact integer ceiling, so 0.3 * 50 is 15, never 16. */
#include <ctype.h>
#include <string.h>

#include "support.h"

bool xf_mul_overflow(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

bool xf_add_overflow(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_add_overflow(a, b, out);
}

bool xf_ratio_parse(const char *s, XfRatio *out)
{
    int64_t num = 0, den = 1;
    int digits = 0;
    if (*s == '-')
        return false;
    for (; isdigit((unsigned char)*s); s++, digits++)
        if (xf_mul_overflow(num, 10, &num) || __builtin_add_overflow(num, *s - '0', &num))
            return false;
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s); s++, digits++) {
            if (xf_mul_overflow(num, 10, &num) || __builtin_add_overflow(num, *s - '0', &num) ||
                xf_mul_overflow(den, 10, &den))
                return false;
        }
    }
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        int sign = 1, e = 0;
        if (*s == '+' || *s == '-')
            sign = *s++ == '-' ? -1 : 1;
        if (!isdigit((unsigned char)*s))
            return false;
        for (; isdigit((unsigned char)*s); s++) {
            e = e * 10 + (*s - '0');
            if (e > 30)
                return false;
        }
        for (int i = 0; i < e; i++)
            if (xf_mul_overflow(sign > 0 ? num : den, 10, sign > 0 ? &num : &den))
                return false;
    }
    if (*s)
        return false;
    /* reduce by common powers of ten so later products overflow later */
    while (den > 1 && num % 10 == 0) {
        num /= 10;
        den /= 10;
    }
    out->num = num;
    out->den = den;
    return true;
}

int64_t xf_ratio_ceil_mul(XfRatio r, int64_t a, int64_t b)
{
    int64_t n, d;
    if (xf_mul_overflow(r.num, a, &n) || xf_mul_overflow(r.den, b, &d) || d <= 0)
        return -1;
    return n / d + (n % d != 0);
}
