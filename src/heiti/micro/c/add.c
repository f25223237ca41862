/* add: element-wise addition, heiti's and TFLite's (heiti_micro.h). */
#include "hm_common.h"

void hm_add(const int8_t *a, const int8_t *b, int8_t *out, int32_t count, int32_t mult_a,
            int32_t mult_b, int32_t shift, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < count; ++i) {
        const int64_t p = (int64_t)a[i] * mult_a + (int64_t)b[i] * mult_b;
        out[i] = (int8_t)round_shift(p, shift, act_min, act_max);
    }
}

void hm_add_tflite(const int8_t *a, const int8_t *b, int8_t *out, const hm_add_params *p)
{
    int32_t i;
#if HM_DSP
    if (add_dsp(a, b, out, p))
        return;
#endif
    for (i = 0; i < p->count; ++i) {
        const int32_t sa = ((int32_t)a[i] - p->a_zp) * (1 << p->left_shift);
        const int32_t sb = ((int32_t)b[i] - p->b_zp) * (1 << p->left_shift);
        const int32_t sum = hm_tflite_multiply(sa, p->mult[0], p->shift[0], p->tflite)
                            + hm_tflite_multiply(sb, p->mult[1], p->shift[1], p->tflite);
        out[i] = requant_out(sum, p->mult[2], p->shift[2], p->out_zp, p->tflite, p->act_min, p->act_max);
    }
}

/* one element of TFLite's ADD (the loop above, kept as it is for the compiler) */
static int8_t add_tflite_one(int32_t a, int32_t b, const hm_add_params *p)
{
    const int32_t sa = (a - p->a_zp) * (1 << p->left_shift);
    const int32_t sb = (b - p->b_zp) * (1 << p->left_shift);
    const int32_t sum = hm_tflite_multiply(sa, p->mult[0], p->shift[0], p->tflite)
                        + hm_tflite_multiply(sb, p->mult[1], p->shift[1], p->tflite);
    return requant_out(sum, p->mult[2], p->shift[2], p->out_zp, p->tflite, p->act_min, p->act_max);
}

void hm_add_tflite_broadcast(const int8_t *a, const int8_t *b, int8_t *out, const hm_add_params *p,
                             const hm_broadcast *s)
{
    int32_t c, y, x;
    HM_BROADCAST_FOR(s, c, y, x)
        *out++ = add_tflite_one(a[hm_offset(s->a_stride, c, y, x)], b[hm_offset(s->b_stride, c, y, x)], p);
}
