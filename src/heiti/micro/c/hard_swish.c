/* hard_swish: TFLite's int8 HARD_SWISH as TFLM's reference kernel computes it, in 16-bit fixed
 * point (heiti_micro.h). */
#include "hm_common.h"

static int32_t sat16(int64_t x)
{
    return (int32_t)(x < -32768 ? -32768 : (x > 32767 ? 32767 : x));
}

/* gemmlowp's int16 SaturatingRoundingDoublingHighMul, or TFLite's SaturatingDoublingHighMul
 * (no rounding nudge): (a * b [+ nudge]) / 2^15, truncated toward zero */
static int32_t high_mul16(int32_t a, int32_t b, int32_t rounding)
{
    const int32_t ab = a * b;
    const int32_t nudge = rounding ? (ab >= 0 ? 1 << 14 : 1 - (1 << 14)) : 0;
    if (a == -32768 && b == -32768)
        return 32767;
    return (ab + nudge) / (1 << 15);  /* C's division truncates toward zero */
}

void hm_hard_swish(const int8_t *in, int8_t *out, const hm_hard_swish_params *p)
{
    int32_t i;
    for (i = 0; i < p->count; ++i) {
        const int32_t hires = ((int32_t)in[i] - p->in_zp) * (1 << 7);
        const int32_t preshift = high_mul16(hires, p->out_mult, 1);
        int32_t reluish = hires;
        if (p->relu_exp > 0)
            reluish = sat16((int64_t)reluish * ((int64_t)1 << (p->relu_exp - 1)));
        reluish = high_mul16(reluish, p->relu_mult, 1);
        if (p->relu_exp > 0)
            reluish = sat16((int64_t)reluish * 2);
        if (p->relu_exp < 0)
            reluish = gl_divide_pot(reluish, -p->relu_exp);
        reluish = (reluish + (1 << 15)) >> 1;  /* non-negative: the shift is a division */
        out[i] = (int8_t)clamp32(gl_divide_pot(high_mul16(reluish, preshift, 0), -p->out_exp) + p->out_zp,
                                 -128, 127);
    }
}
