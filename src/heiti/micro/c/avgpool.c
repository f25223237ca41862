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

/* p / d rounded half to even (d > 0) */
static int64_t half_even(int64_t p, int64_t d)
{
    int64_t q = p / d, r = p % d;  /* C truncates: to floor */
    if (r < 0) {
        q -= 1;
        r += d;
    }
    if (2 * r > d || (2 * r == d && (q & 1)))
        q += 1;
    return q;
}

void hm_avgpool_qdq(const int8_t *in, int8_t *out, const hm_pool_params *p)
{
    const int32_t count = p->kh * p->kw;
    int32_t c, oy, ox, ky, kx;
    for (c = 0; c < p->c; ++c) {
        const int8_t *plane = in + c * p->h * p->w;
        for (oy = 0; oy < p->oh; ++oy)
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t sum = 0;
                int64_t v;
                for (ky = 0; ky < p->kh; ++ky)
                    for (kx = 0; kx < p->kw; ++kx)
                        sum += plane[(oy * p->stride + ky) * p->w + ox * p->stride + kx] - p->in_zp;
                v = p->mult ? half_even((int64_t)sum * p->mult, (int64_t)1 << p->shift) : half_even(sum, count);
                *out++ = (int8_t)clamp32(clamp32((int32_t)v + p->out_zp, -128, 127), p->act_min, p->act_max);
            }
    }
}
