/* logistic: TFLite's int8 LOGISTIC, as TFLM's reference kernel computes it in gemmlowp's fixed
 * point (heiti_micro.h): the input in Q4.27, exp of its negative magnitude and 1 / (1 + x) in
 * Q0.31, to the output grid 1/256 with zero point -128. */
#include "hm_common.h"

/* everything inlined here: the shared gemmlowp helpers keep the out-of-line forms the other
 * kernels had before (softmax's exp specialized for its 5 integer bits) */
#if defined(__GNUC__) && !defined(__clang__)
#define HM_FLATTEN __attribute__((flatten))
#else
#define HM_FLATTEN
#endif

HM_FLATTEN void hm_logistic(const int8_t *in, int8_t *out, int32_t count, int32_t in_zp, int32_t mult, int32_t shift,
                 int32_t radius, int32_t rounding)
{
    int32_t i;
    for (i = 0; i < count; ++i) {
        const int32_t x = (int32_t)in[i] - in_zp;
        int32_t v = 127;
        if (x <= -radius) {
            v = -128;
        } else if (x < radius) {
            const int32_t a = hm_tflite_multiply(x, mult, shift, rounding);
            int32_t q0 = 1 << 30;  /* logistic(0) = 1/2 */
            if (a != 0) {
                const int32_t p = gl_one_over_one_plus_x(gl_exp_on_negative_values(a > 0 ? -a : a, 4));
                q0 = a > 0 ? p : INT32_MAX - p;
            }
            v = clamp32(gl_divide_pot(q0, 31 - 8) - 128, -128, 127);
        }
        out[i] = (int8_t)v;
    }
}
