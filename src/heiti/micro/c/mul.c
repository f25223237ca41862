/* mul: TFLite's int8 MUL with broadcasting (heiti_micro.h). */
#include "hm_common.h"

void hm_mul(const int8_t *a, const int8_t *b, int8_t *out, const hm_mul_params *p, const hm_broadcast *s)
{
    int32_t c, y, x;
    HM_BROADCAST_FOR(s, c, y, x) {
        const int32_t product = ((int32_t)a[hm_offset(s->a_stride, c, y, x)] - p->a_zp)
                                * ((int32_t)b[hm_offset(s->b_stride, c, y, x)] - p->b_zp);
        *out++ = requant_out(product, p->mult, p->shift, p->out_zp, p->tflite, p->act_min, p->act_max);
    }
}
