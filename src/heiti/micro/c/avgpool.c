/* avgpool: average pooling (heiti_micro.h). */
#include "hm_common.h"

void hm_avgpool(const int8_t *in, int8_t *out, const hm_pool_params *p)
{
    const int32_t count = p->kh * p->kw;
    int32_t c, oy, ox, ky, kx;
#if HM_DSP
    if (avgpool_dsp(in, out, p))
        return;
#endif
    for (c = 0; c < p->c; ++c) {
        const int8_t *plane = in + c * p->h * p->w;
        for (oy = 0; oy < p->oh; ++oy)
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t sum = 0, mag;
                for (ky = 0; ky < p->kh; ++ky)
                    for (kx = 0; kx < p->kw; ++kx)
                        sum += plane[(oy * p->stride + ky) * p->w + ox * p->stride + kx];
                if (p->mode == HM_POOL_REQUANT) {
                    *out++ = requant_out(sum - count * p->in_zp, p->mult, p->shift, p->out_zp, p->tflite,
                                         p->act_min, p->act_max);
                    continue;
                }
                mag = ((sum < 0 ? -sum : sum) + count / 2) / count;  /* half away from zero */
                mag = sum < 0 ? -mag : mag;
                *out++ = (int8_t)(p->mode ? clamp32(mag, p->act_min, p->act_max) : mag);
            }
    }
}
