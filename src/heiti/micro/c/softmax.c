/* softmax: TFLite's int8 SOFTMAX over a vector, as TFLM's reference kernel computes it in
 * gemmlowp's fixed point (heiti_micro.h; the steps are named after gemmlowp's functions). */
#include "hm_common.h"

/* SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31, truncated */
static int32_t sm_high_mul(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * b;
    const int64_t total = ab + (ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30));
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    return (int32_t)(total >= 0 ? total / ((int64_t)1 << 31) : -(-total / ((int64_t)1 << 31)));
}

/* RoundingDivideByPOT: half away from zero */
static int32_t sm_divide_pot(int32_t x, int32_t exponent)
{
    const int64_t mask = ((int64_t)1 << exponent) - 1;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(floor_shift(x, exponent) + (((int64_t)x & mask) > threshold ? 1 : 0));
}

/* SaturatingRoundingMultiplyByPOT with a positive exponent: a saturating left shift */
static int32_t sm_shift_left(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1L << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return x * (1 << exponent);
}

/* exp(a) for a in [-1/4, 0), Q0.31 */
static int32_t sm_exp_quarter(int32_t a)
{
    const int32_t constant = 1895147668, third = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = sm_high_mul(x, x), x3 = sm_high_mul(x2, x), x4 = sm_high_mul(x2, x2);
    const int32_t poly = sm_divide_pot(sm_high_mul(sm_divide_pot(x4, 2) + x3, third) + x2, 1);
    return constant + sm_high_mul(constant, x + poly);
}

/* exp(a) for a <= 0 in Q5.26, as Q0.31 */
static int32_t sm_exp_negative(int32_t a)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << 24;
    const int32_t rest = (a & (quarter - 1)) - quarter;
    const int32_t remainder = rest - a;
    int32_t result = sm_exp_quarter(sm_shift_left(rest, 5)), k;
    for (k = 0; k < 7; ++k)  /* exp(-2^(k-2)) for each set bit of the remainder */
        if (remainder & (1 << (24 + k)))
            result = sm_high_mul(result, barrel[k]);
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 (Newton-Raphson in Q2.29) */
static int32_t sm_one_over_one_plus_x(int32_t a)
{
    const int32_t half = (int32_t)(((int64_t)a + INT32_MAX + 1) / 2);
    int32_t x = 1515870810 + sm_high_mul(half, -1010580540), i;
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = (1 << 29) - sm_high_mul(half, x);
        x = x + sm_shift_left(sm_high_mul(x, one_minus), 2);
    }
    return sm_shift_left(x, 1);
}

/* diff * 2^left_shift: fits in int32 for every diff >= diff_min */
static int32_t scaled_diff(int32_t diff, int32_t left_shift)
{
    return (int32_t)((int64_t)diff * ((int64_t)1 << left_shift));
}

void hm_softmax(const int8_t *in, int8_t *out, int32_t count, int32_t mult, int32_t left_shift,
                int32_t diff_min)
{
    int32_t i, max = -128, total = 0, headroom = 0, scale;
    for (i = 0; i < count; ++i)
        if (in[i] > max) max = in[i];
    for (i = 0; i < count; ++i) {
        const int32_t diff = in[i] - max;
        if (diff >= diff_min)
            total += sm_divide_pot(sm_exp_negative(sm_high_mul(scaled_diff(diff, left_shift), mult)), 12);
    }
    while (headroom < 32 && !((uint32_t)total & (0x80000000u >> headroom)))
        ++headroom;  /* leading zeros */
    scale = sm_one_over_one_plus_x((int32_t)(((uint32_t)total << headroom) - 0x80000000u));
    for (i = 0; i < count; ++i) {
        const int32_t diff = in[i] - max;
        int32_t v = -128;
        if (diff >= diff_min) {
            const int32_t e = sm_exp_negative(sm_high_mul(scaled_diff(diff, left_shift), mult));
            v = clamp32(sm_divide_pot(sm_high_mul(scale, e), 12 - headroom + 31 - 8) - 128, -128, 127);
        }
        out[i] = (int8_t)v;
    }
}
