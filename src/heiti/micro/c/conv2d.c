/* conv2d: convolution, grouped and depthwise (heiti_micro.h). */
#include "hm_common.h"

/* Portable fast paths (RISC-V boards, host builds): the general loop below pays its window
 * bookkeeping per output and input channel, which dominates 1x1 and depthwise layers. */

/* 1x1, groups 1, no padding: four output channels share each input value */
static void conv_pointwise(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t plane = p->h * p->w, pixels = p->oh * p->ow, cin = p->cin, zp = p->in_zp;
    int32_t co, oy, ox, ci, k;
    for (co = 0; co < p->cout; co += 4) {
        const int32_t n = p->cout - co < 4 ? p->cout - co : 4;
        const int8_t *w[4];
        for (k = 0; k < 4; ++k)  /* a short last group repeats its last row, stored once */
            w[k] = p->weight + (co + (k < n ? k : n - 1)) * cin;
        for (oy = 0; oy < p->oh; ++oy)
            for (ox = 0; ox < p->ow; ++ox) {
                const int8_t *x = in + oy * p->stride * p->w + ox * p->stride;
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                for (ci = 0; ci < cin; ++ci, x += plane) {
                    const int32_t v = *x - zp;
                    a0 += v * w[0][ci];
                    a1 += v * w[1][ci];
                    a2 += v * w[2][ci];
                    a3 += v * w[3][ci];
                }
                {
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    int8_t *o = out + co * pixels + oy * p->ow + ox;
                    for (k = 0; k < n; ++k, o += pixels)
                        *o = requant_out(acc[k] + p->bias[co + k], MULT(p, co + k), p->shift[co + k], p->out_zp,
                                         p->tflite, p->act_min, p->act_max);
                }
            }
    }
}

/* depthwise 3x3 (one input channel per group): outputs whose window lies inside the input
 * take nine plain MACs; only the border runs the general loop */
static void conv_depthwise_3x3(const int8_t *in, int8_t *out, const hm_conv_params *p, int32_t co)
{
    const int32_t c = co / (p->cout / p->cin), w = p->w, zp = p->in_zp, s = p->stride;
    const int8_t *plane = in + c * p->h * w, *k = p->weight + co * 9;
    const int32_t k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7];
    const int32_t k8 = k[8], ksum = (k0 + k1 + k2 + k3 + k4 + k5 + k6 + k7 + k8) * zp;
    const int32_t bias = p->bias[co], mult = MULT(p, co), shift = p->shift[co];
    int32_t oy, ox, ky, kx;
    for (oy = 0; oy < p->oh; ++oy)
        for (ox = 0; ox < p->ow; ++ox) {
            const int32_t y0 = oy * s - p->pad, x0 = ox * s - p->pad;
            int32_t acc = bias;
            if (y0 >= 0 && x0 >= 0 && y0 + 3 <= p->h && x0 + 3 <= w) {
                const int8_t *r = plane + y0 * w + x0;
                acc += r[0] * k0 + r[1] * k1 + r[2] * k2 + r[w] * k3 + r[w + 1] * k4 + r[w + 2] * k5
                       + r[2 * w] * k6 + r[2 * w + 1] * k7 + r[2 * w + 2] * k8 - ksum;
            } else {
                for (ky = y0 < 0 ? -y0 : 0; ky < 3 && y0 + ky < p->h; ++ky)
                    for (kx = x0 < 0 ? -x0 : 0; kx < 3 && x0 + kx < w; ++kx)
                        acc += ((int32_t)plane[(y0 + ky) * w + x0 + kx] - zp) * k[ky * 3 + kx];
            }
            *out++ = requant_out(acc, mult, shift, p->out_zp, p->tflite, p->act_min, p->act_max);
        }
}

void hm_conv2d(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t cg = p->cin / p->groups, og = p->cout / p->groups;
    int32_t co, oy, ox, ci, ky, kx;
#if HM_DSP
    if (p->groups == 1) {
        conv_dsp(in, out, p);
        return;
    }
    if (cg == 1) {
        depthwise_dsp(in, out, p);
        return;
    }
#endif
    if (p->groups == 1 && p->kh == 1 && p->kw == 1 && p->pad == 0) {
        conv_pointwise(in, out, p);
        return;
    }
    if (cg == 1 && p->kh == 3 && p->kw == 3) {
        for (co = 0; co < p->cout; ++co, out += p->oh * p->ow)
            conv_depthwise_3x3(in, out, p, co);
        return;
    }
    for (co = 0; co < p->cout; ++co) {
        const int8_t *wc = p->weight + (int32_t)co * cg * p->kh * p->kw;
        const int32_t first = (co / og) * cg;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                /* the part of the window inside the input: padding contributes zeros */
                const int32_t y0 = oy * p->stride - p->pad, x0 = ox * p->stride - p->pad;
                const int32_t ky_lo = y0 < 0 ? -y0 : 0, kx_lo = x0 < 0 ? -x0 : 0;
                const int32_t ky_hi = y0 + p->kh > p->h ? p->h - y0 : p->kh;
                const int32_t kx_hi = x0 + p->kw > p->w ? p->w - x0 : p->kw;
                int32_t acc = p->bias[co];
                for (ci = 0; ci < cg; ++ci) {
                    const int8_t *plane = in + (first + ci) * p->h * p->w + y0 * p->w + x0;
                    const int8_t *wk = wc + ci * p->kh * p->kw;
                    for (ky = ky_lo; ky < ky_hi; ++ky)
                        for (kx = kx_lo; kx < kx_hi; ++kx)
                            acc += ((int32_t)plane[ky * p->w + kx] - p->in_zp) * wk[ky * p->kw + kx];
                }
                *out++ = requant_out(acc, MULT(p, co), p->shift[co], p->out_zp, p->tflite,
                                     p->act_min, p->act_max);
            }
        }
    }
}
