/* softmax: TFLite's int8 SOFTMAX over a vector, as TFLM's reference kernel computes it in
 * gemmlowp's fixed point (heiti_micro.h; the gl_ helpers of hm_common.h). */
#include "hm_common.h"

/* diff * 2^left_shift: fits in int32 for every diff >= diff_min */
static int32_t scaled_diff(int32_t diff, int32_t left_shift)
{
    return (int32_t)((int64_t)diff * ((int64_t)1 << left_shift));
}

/* the exponentials of the first pass are kept for the second in rows up to this long */
enum { SOFTMAX_KEEP = 64 };

static int32_t softmax_exp(int32_t diff, int32_t mult, int32_t left_shift)
{
    return gl_exp_on_negative_values(gl_high_mul(scaled_diff(diff, left_shift), mult), 5);
}

void hm_softmax(const int8_t *in, int8_t *out, int32_t count, int32_t mult, int32_t left_shift,
                int32_t diff_min)
{
    int32_t i, max = -128, total = 0, headroom = 0, scale, kept[SOFTMAX_KEEP];
    const int32_t keep = count <= SOFTMAX_KEEP;
    for (i = 0; i < count; ++i)
        if (in[i] > max) max = in[i];
    for (i = 0; i < count; ++i) {
        const int32_t diff = in[i] - max;
        if (diff >= diff_min) {
            const int32_t e = softmax_exp(diff, mult, left_shift);
            if (keep)
                kept[i] = e;
            total += gl_divide_pot(e, 12);
        }
    }
    while (headroom < 32 && !((uint32_t)total & (0x80000000u >> headroom)))
        ++headroom;  /* leading zeros */
    scale = gl_one_over_one_plus_x((int32_t)(((uint32_t)total << headroom) - 0x80000000u));
    for (i = 0; i < count; ++i) {
        const int32_t diff = in[i] - max;
        int32_t v = -128;
        if (diff >= diff_min) {
            const int32_t e = keep ? kept[i] : softmax_exp(diff, mult, left_shift);
            v = clamp32(gl_divide_pot(gl_high_mul(scale, e), 12 - headroom + 31 - 8) - 128, -128, 127);
        }
        out[i] = (int8_t)v;
    }
}
