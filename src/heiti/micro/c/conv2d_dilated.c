/* conv2d_dilated: convolution whose kernel taps are `dilation` pixels apart (heiti_micro.h),
 * the portable loop of hm_conv2d with the window spread out; padding contributes zeros. */
#include "hm_common.h"

void hm_conv2d_dilated(const int8_t *in, int8_t *out, const hm_conv_params *p, int32_t dilation)
{
    const int32_t cg = p->cin / p->groups, og = p->cout / p->groups;
    int32_t co, oy, ox, ci, ky, kx;
    for (co = 0; co < p->cout; ++co) {
        const int8_t *wc = p->weight + co * cg * p->kh * p->kw;
        const int32_t first = (co / og) * cg;
        for (oy = 0; oy < p->oh; ++oy)
            for (ox = 0; ox < p->ow; ++ox) {
                const int32_t y0 = oy * p->stride - p->pad, x0 = ox * p->stride - p->pad;
                int32_t acc = p->bias[co];
                for (ci = 0; ci < cg; ++ci) {
                    const int8_t *plane = in + (first + ci) * p->h * p->w;
                    const int8_t *wk = wc + ci * p->kh * p->kw;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t y = y0 + ky * dilation;
                        if (y < 0 || y >= p->h)
                            continue;
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t x = x0 + kx * dilation;
                            if (x >= 0 && x < p->w)
                                acc += ((int32_t)plane[y * p->w + x] - p->in_zp) * wk[ky * p->kw + kx];
                        }
                    }
                }
                *out++ = requant_out(acc, MULT(p, co), p->shift[co], p->out_zp, p->tflite, p->act_min,
                                     p->act_max);
            }
    }
}
