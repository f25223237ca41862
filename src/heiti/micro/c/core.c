/* heiti micro: the requantization entry points, the output copy and argmax (every model). */
#include "hm_common.h"

int32_t hm_requant(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi)
{
    return round_shift((int64_t)acc * mult, shift, lo, hi);
}

int32_t hm_tflite_multiply(int32_t acc, int32_t mult, int32_t shift, int32_t rounding)
{
    const int32_t e = 31 - shift;
    if (rounding == HM_TFLITE_SINGLE)  /* one rounding, half up */
        return (int32_t)floor_shift((int64_t)acc * mult + ((int64_t)1 << (shift - 1)), shift);
    const int64_t x = (int64_t)acc * ((int64_t)1 << (e > 0 ? e : 0));
    /* SaturatingRoundingDoublingHighMul: rounds half up (M >= 0, so it never saturates) */
    const int64_t high = floor_shift(x * mult + ((int64_t)1 << 30), 31);
    /* RoundingDivideByPOT: half away from zero */
    return round_shift(high, e < 0 ? -e : 0, INT32_MIN, INT32_MAX);
}

void hm_copy(const int8_t *in, int8_t *out, int32_t count)
{
    int32_t i;
    for (i = 0; i < count; ++i)
        out[i] = in[i];
}

int32_t hm_argmax(const int8_t *x, int32_t count)
{
    int32_t i, best = 0;
    for (i = 1; i < count; ++i)
        if (x[i] > x[best]) best = i;
    return best;
}
