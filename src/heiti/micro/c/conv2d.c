/* conv2d: convolution, grouped and depthwise (heiti_micro.h). */
#include "hm_common.h"

/* Portable fast paths (RISC-V boards, host builds): the general loop below pays its window
 * bookkeeping per output and input channel, which dominates 1x1 and depthwise layers. */

/* requant_out with heiti's common case (hm_requant with a shift from 33 on) in the loop,
 * without its calls */
__attribute__((always_inline)) static inline int8_t requant_inline(int32_t acc, int32_t mult, int32_t shift,
                                                                   const hm_conv_params *p)
{
    if (!p->tflite && shift >= 33)
        return (int8_t)round_shift_high((int64_t)acc * mult, shift, p->act_min, p->act_max);
    return requant_out(acc, mult, shift, p->out_zp, p->tflite, p->act_min, p->act_max);
}

/* the outputs of channels co .. co + n - 1 (n <= 4) at output pixel (oy, ox) of a 1x1
 * convolution: four output channels share each input value */
static void pointwise_pixel(const int8_t *in, int8_t *out, const hm_conv_params *p, int32_t co, int32_t n,
                            int32_t oy, int32_t ox)
{
    const int32_t plane = p->h * p->w, pixels = p->oh * p->ow, cin = p->cin, zp = p->in_zp;
    const int8_t *w0 = p->weight + co * cin;  /* a short group repeats its last row, stored once */
    const int8_t *w1 = w0 + (n > 1) * cin, *w2 = w0 + (n > 2 ? 2 : n - 1) * cin, *w3 = w0 + (n - 1) * cin;
    const int8_t *x = in + oy * p->stride * p->w + ox * p->stride;
    int32_t acc[4] = {0, 0, 0, 0}, ci, k;
    for (ci = 0; ci < cin; ++ci, x += plane) {
        const int32_t v = *x - zp;
        acc[0] += v * w0[ci];
        acc[1] += v * w1[ci];
        acc[2] += v * w2[ci];
        acc[3] += v * w3[ci];
    }
    out += co * pixels + oy * p->ow + ox;
    for (k = 0; k < n; ++k, out += pixels)
        *out = requant_inline(acc[k] + p->bias[co + k], MULT(p, co + k), p->shift[co + k], p);
}

/* three output channels by four adjacent pixels (stride 1: adjacent bytes of each input
 * channel; a 2x2 map is one block) per pass over the input channels: each weight and input
 * value loaded once for three or four MACs, the twelve accumulators and everything else in
 * registers (a function of its own for that: with a fourth channel RV32 spilled) */
#define HM_ROW4(a, w)              \
    do {                           \
        const int32_t t = (w);     \
        a##0 += t * x0;            \
        a##1 += t * x1;            \
        a##2 += t * x2;            \
        a##3 += t * x3;            \
    } while (0)

/* one input channel's four values (at xp) times its weights (at index i of the rows) */
#define HM_CHANNEL(xp, i)                                                                \
    do {                                                                                 \
        const int32_t x0 = (xp)[0] - zp, x1 = (xp)[1] - zp, x2 = (xp)[2] - zp, x3 = (xp)[3] - zp; \
        HM_ROW4(a, w0[i]);                                                               \
        HM_ROW4(b, w1[i]);                                                               \
        HM_ROW4(c, w2[i]);                                                               \
    } while (0)

__attribute__((always_inline)) static inline void pointwise_3x4_zp(const int8_t *in, int8_t *out,
                                                                   const hm_conv_params *p, int32_t co,
                                                                   int32_t px, int32_t zp)
{
    const int32_t plane = p->h * p->w, cin = p->cin;
    const int8_t *w0 = p->weight + co * cin, *w1 = w0 + cin, *w2 = w1 + cin;
    const int8_t *x = in + px, *end = x + cin * plane;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0, k, j;
    for (; x < end; x += 2 * plane, w0 += 2, w1 += 2, w2 += 2) {  /* two input channels a step */
        const int8_t *y = x + plane;
        HM_CHANNEL(x, 0);
        if (y == end)  /* an odd last channel */
            break;
        HM_CHANNEL(y, 1);
    }
    {
        const int32_t acc[12] = {a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3};
        for (k = 0; k < 3; ++k) {
            const int32_t c = co + k, bias = p->bias[c], m = MULT(p, c), s = p->shift[c];
            for (j = 0; j < 4; ++j)
                out[c * plane + px + j] = requant_inline(acc[4 * k + j] + bias, m, s, p);
        }
    }
}

/* a copy without the zero point's subtractions for the symmetric schemes */
__attribute__((noinline)) static void pointwise_3x4(const int8_t *in, int8_t *out, const hm_conv_params *p,
                                                    int32_t co, int32_t px)
{
    if (p->in_zp)
        pointwise_3x4_zp(in, out, p, co, px, p->in_zp);
    else
        pointwise_3x4_zp(in, out, p, co, px, 0);
}
#undef HM_CHANNEL
#undef HM_ROW4

/* 1x1, groups 1, no padding: blocks of three channels by four pixels where the stride is 1
 * (one or two last channels as the last three, computing some again), the other pixels one
 * at a time for four channels */
static void conv_pointwise(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t pixels = p->oh * p->ow, blocks = p->stride == 1 && p->cout >= 3 ? pixels & ~3 : 0;
    int32_t co, px;
    for (co = 0; co < p->cout && blocks; co += 3) {
        const int32_t first = p->cout - co < 3 ? p->cout - 3 : co;
        for (px = 0; px < blocks; px += 4)
            pointwise_3x4(in, out, p, first, px);
    }
    for (co = 0; co < p->cout; co += 4)
        for (px = blocks; px < pixels; ++px)
            pointwise_pixel(in, out, p, co, p->cout - co < 4 ? p->cout - co : 4, px / p->ow, px % p->ow);
}

/* depthwise 3x3 with padding 1 on a 2x2 map, channel multiplier 1 (the late stages of small
 * networks): each output sees four of the nine taps, with no window bookkeeping */
static void conv_depthwise_2x2(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t zp = p->in_zp;
    const int8_t *k = p->weight;
    int32_t c, j;
    for (c = 0; c < p->cout; ++c, in += 4, k += 9) {
        const int32_t x00 = in[0] - zp, x01 = in[1] - zp, x10 = in[2] - zp, x11 = in[3] - zp;
        const int32_t acc[4] = {x00 * k[4] + x01 * k[5] + x10 * k[7] + x11 * k[8],
                                x00 * k[3] + x01 * k[4] + x10 * k[6] + x11 * k[7],
                                x00 * k[1] + x01 * k[2] + x10 * k[4] + x11 * k[5],
                                x00 * k[0] + x01 * k[1] + x10 * k[3] + x11 * k[4]};
        for (j = 0; j < 4; ++j)
            *out++ = requant_inline(acc[j] + p->bias[c], MULT(p, c), p->shift[c], p);
    }
}

/* depthwise 3x3 (one input channel per group): outputs whose window lies inside the input
 * take nine plain MACs; only the border runs the general loop. `inline_requant`, a constant:
 * heiti's requantization with a shift from 33 on without calls (a copy of its own, so that
 * the other schemes' loop keeps its registers). */
__attribute__((always_inline)) static inline void depthwise_3x3_channel(const int8_t *in, int8_t *out,
                                                                        const hm_conv_params *p, int32_t co,
                                                                        int32_t inline_requant)
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
            *out++ = inline_requant ? (int8_t)round_shift_high((int64_t)acc * mult, shift, p->act_min, p->act_max)
                                    : requant_out(acc, mult, shift, p->out_zp, p->tflite, p->act_min, p->act_max);
        }
}

static void conv_depthwise_3x3(const int8_t *in, int8_t *out, const hm_conv_params *p, int32_t co)
{
    if (!p->tflite && p->shift[co] >= 33)
        depthwise_3x3_channel(in, out, p, co, 1);
    else
        depthwise_3x3_channel(in, out, p, co, 0);
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
#if !HM_NO_DEPTHWISE
    if (cg == 1) {
        depthwise_dsp(in, out, p);
        return;
    }
#endif
#endif
#if HM_RV32
    if (p->groups == 1 && (p->kh > 1 || p->kw > 1 || p->pad)) {
        conv_rv32(in, out, p);
        return;
    }
#endif
    if (p->groups == 1 && p->kh == 1 && p->kw == 1 && p->pad == 0) {
        conv_pointwise(in, out, p);
        return;
    }
    if (cg == 1 && p->cout == p->cin && p->kh == 3 && p->kw == 3 && p->h == 2 && p->w == 2 && p->pad == 1
        && p->stride == 1) {
        conv_depthwise_2x2(in, out, p);
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
