/* tanh: TFLite's int8 TANH as TFLM's reference kernel computes it, in gemmlowp's fixed point
 * (heiti_micro.h; the gl_ helpers of hm_common.h). */
#include "hm_common.h"

void hm_tanh(const int8_t *in, int8_t *out, int32_t count, int32_t in_zp, int32_t mult, int32_t shift,
             int32_t radius, int32_t rounding)
{
    int32_t i;
    for (i = 0; i < count; ++i) {
        const int32_t x = (int32_t)in[i] - in_zp;
        if (x <= -radius) {
            out[i] = -128;
        } else if (x >= radius) {
            out[i] = 127;
        } else {  /* x in Q4.27, tanh in Q0.31, to Q0.7 */
            const int32_t a = hm_tflite_multiply(x, mult, shift, rounding);
            const int32_t negative = a < 0 ? a : -a;
            const int32_t t = gl_one_minus_x_over_one_plus_x(gl_exp_on_negative_values(negative, 5));
            const int32_t y = a == 0 ? 0 : (a < 0 ? -t : t);
            out[i] = (int8_t)clamp32(gl_divide_pot(y, 24), -128, 127);
        }
    }
}
