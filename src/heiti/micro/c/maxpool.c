/* maxpool: max pooling (heiti_micro.h). */
#include "hm_common.h"

void hm_maxpool(const int8_t *in, int8_t *out, const hm_pool_params *p)
{
    int32_t c, oy, ox, ky, kx;
    for (c = 0; c < p->c; ++c) {
        const int8_t *plane = in + c * p->h * p->w;
        for (oy = 0; oy < p->oh; ++oy)
            for (ox = 0; ox < p->ow; ++ox) {
                int8_t best = -128;
                for (ky = 0; ky < p->kh; ++ky)
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int8_t v = plane[(oy * p->stride + ky) * p->w + ox * p->stride + kx];
                        if (v > best) best = v;
                    }
                *out++ = p->mode ? (int8_t)clamp32(best, p->act_min, p->act_max) : best;
            }
    }
}
