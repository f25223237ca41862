/* heiti micro: static helpers every kernel file uses (micro-c puts them once at the top of
 * the generated heiti_micro.c). Semantics: heiti_micro.h and docs/micro.md. */
#ifndef HM_COMMON_H
#define HM_COMMON_H

#include "heiti_micro.h"

/* a helper a model's operators may not need: no -Wunused-function for it */
#if defined(__GNUC__)
#define HM_UNUSED __attribute__((unused))
#define HM_INLINE __attribute__((always_inline)) inline
#else
#define HM_UNUSED
#define HM_INLINE
#endif

/* power-of-two models store no multipliers (NULL): requantization is a shift */
#define MULT(p, i) ((p)->mult ? (p)->mult[i] : 1)

/* floor(p / 2^s) without right-shifting a negative number */
static HM_UNUSED int64_t floor_shift(int64_t p, int32_t s)
{
    return p >= 0 ? p >> s : -((-p - 1) >> s) - 1;
}

/* round_shift below for shifts from 33 on, in 32-bit words (32-bit cores have no 64-bit
 * shifts): h is in the high word of t = p + h - [p < 0], and floor(t / 2^s) is
 * floor(high word / 2^(s - 32)) */
static HM_UNUSED HM_INLINE int32_t round_shift_high(int64_t p, int32_t shift, int32_t lo, int32_t hi)
{
    const int32_t t_hi = (int32_t)((uint64_t)p >> 32) + (1 << (shift - 33)) - (p < 0 && (uint32_t)p == 0);
    const int32_t k = shift - 32;
    const int32_t q = t_hi >= 0 ? t_hi >> k : -((-t_hi - 1) >> k) - 1;
    return q < lo ? lo : (q > hi ? hi : q);
}

/* Rounding half away from zero, on the magnitude: right shifts of negative numbers
 * are implementation-defined in C, and the golden model rounds the same way. */
static HM_UNUSED int32_t round_shift(int64_t p, int32_t shift, int32_t lo, int32_t hi)
{
    int64_t r;
    if (shift >= 33)
        return round_shift_high(p, shift, lo, hi);
    if (shift > 0) {  /* -((-p + h) >> s) is floor((p + h - 1) / 2^s) for p < 0, h = 2^(s-1) */
        r = floor_shift(p + ((int64_t)1 << (shift - 1)) - (p < 0), shift);
    } else {
        r = p * ((int64_t)1 << -shift);  /* a multiply: left shifts of negatives are undefined */
    }
    if (r < lo) r = lo;
    if (r > hi) r = hi;
    return (int32_t)r;
}

static HM_UNUSED int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* an accumulator to the output int8, in the operator's scheme */
static HM_UNUSED int8_t requant_out(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp, int32_t tflite,
                          int32_t lo, int32_t hi)
{
    if (!tflite)
        return (int8_t)hm_requant(acc, mult, shift, lo, hi);
    return (int8_t)clamp32(clamp32(hm_tflite_multiply(acc, mult, shift, tflite) + out_zp, -128, 127), lo, hi);
}

/* every output element (c, y, x) of a broadcast (hm_broadcast), in memory order */
#define HM_BROADCAST_FOR(s, c, y, x)                  \
    for (c = 0; c < (s)->dims[0]; ++c)                \
        for (y = 0; y < (s)->dims[1]; ++y)            \
            for (x = 0; x < (s)->dims[2]; ++x)

/* the offset of element (c, y, x) in an operand with these strides */
static HM_UNUSED int32_t hm_offset(const int32_t *stride, int32_t c, int32_t y, int32_t x)
{
    return c * stride[0] + y * stride[1] + x * stride[2];
}

/* gemmlowp's fixed point as TFLM's reference kernels use it (softmax, tanh); the golden
 * model's twins are in micro/ops/_fixedpoint.py, named after gemmlowp's fixedpoint.h */

/* SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31, truncated */
static HM_UNUSED int32_t gl_high_mul(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * b;
    const int64_t total = ab + (ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30));
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    return (int32_t)(total >= 0 ? total / ((int64_t)1 << 31) : -(-total / ((int64_t)1 << 31)));
}

/* RoundingDivideByPOT: half away from zero */
static HM_UNUSED int32_t gl_divide_pot(int32_t x, int32_t exponent)
{
    const int64_t mask = ((int64_t)1 << exponent) - 1;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(floor_shift(x, exponent) + (((int64_t)x & mask) > threshold ? 1 : 0));
}

/* SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift */
static HM_UNUSED int32_t gl_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1L << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return x * (1 << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 */
static HM_UNUSED int32_t gl_exp_quarter(int32_t a)
{
    const int32_t constant = 1895147668, third = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = gl_high_mul(x, x), x3 = gl_high_mul(x2, x), x4 = gl_high_mul(x2, x2);
    const int32_t poly = gl_divide_pot(gl_high_mul(gl_divide_pot(x4, 2) + x3, third) + x2, 1);
    return constant + gl_high_mul(constant, x + poly);
}

/* exp(a) for a <= 0 with integer_bits (at most 5) integer bits, as Q0.31 */
static HM_UNUSED int32_t gl_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t fraction_bits = 31 - integer_bits, quarter = 1 << (fraction_bits - 2);
    const int32_t rest = (a & (quarter - 1)) - quarter;
    const int32_t remainder = rest - a;
    int32_t result = gl_exp_quarter(gl_shift_left(rest, integer_bits)), k;
    for (k = 0; k < integer_bits + 2; ++k)  /* exp(-2^(k-2)) for each set bit of the remainder */
        if (remainder & (1 << (fraction_bits - 2 + k)))
            result = gl_high_mul(result, barrel[k]);
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q2.29 (Newton-Raphson); inlined: softmax's code as before */
static HM_UNUSED HM_INLINE int32_t gl_newton_reciprocal(int32_t a)
{
    const int32_t half = (int32_t)(((int64_t)a + INT32_MAX + 1) / 2);
    int32_t x = 1515870810 + gl_high_mul(half, -1010580540), i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = (1 << 29) - gl_high_mul(half, x);
        x = x + gl_shift_left(gl_high_mul(x, one_minus), 2);
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 */
static HM_UNUSED int32_t gl_one_over_one_plus_x(int32_t a)
{
    return gl_shift_left(gl_newton_reciprocal(a), 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0.31 */
static HM_UNUSED int32_t gl_one_minus_x_over_one_plus_x(int32_t a)
{
    return gl_shift_left(gl_newton_reciprocal(a) - (1 << 29), 2);
}

#endif
