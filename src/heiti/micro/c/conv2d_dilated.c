/* conv2d_dilated: convolution whose kernel taps are `dilation` pixels apart (heiti_micro.h):
 * with stride 1 and padding and input sizes multiples of the dilation d, as d x d undilated
 * convolutions on the input's phases (hm_conv2d, so the DSP kernels where the board has them);
 * else the portable loop of hm_conv2d with the window spread out (padding contributes zeros). */
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

/* The output pixels (d*i + a, d*j + b) read only the input pixels of the same phase (a, b), d
 * apart, whose taps are then neighbours: each phase is gathered, convolved undilated by p (the
 * phase's sizes and padding) and scattered back. The sums are the same products. */
void hm_conv2d_phases(const int8_t *in, int8_t *out, const hm_conv_params *p, int32_t d, int8_t *phase_in,
                      int8_t *phase_out)
{
    const int32_t width = p->w * d, plane = p->h * d * width, out_width = p->ow * d;
    const int32_t out_plane = p->oh * d * out_width;
    int32_t a, b, c, y, x;
    for (a = 0; a < d; ++a)
        for (b = 0; b < d; ++b) {
            int8_t *q = phase_in;
            for (c = 0; c < p->cin; ++c)
                for (y = 0; y < p->h; ++y)
                    for (x = 0; x < p->w; ++x)
                        *q++ = in[c * plane + (y * d + a) * width + x * d + b];
            hm_conv2d(phase_in, phase_out, p);
            q = phase_out;
            for (c = 0; c < p->cout; ++c)
                for (y = 0; y < p->oh; ++y)
                    for (x = 0; x < p->ow; ++x)
                        out[c * out_plane + (y * d + a) * out_width + x * d + b] = *q++;
        }
}
