/* conv2d with the DSP extension: groups 1 and depthwise (bit-identical to ../conv2d.c). */
#include "dsp/hm_dsp.h"

#if HM_DSP
#pragma GCC push_options
#pragma GCC optimize("O2")

/* two int16 in one word, a in the low half */
static int32_t pack16(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)(uint16_t)a | (uint32_t)(uint16_t)b << 16);
}

/* acc[r][c] += row r . column c over n, for two weight rows and the two interleaved columns.
 * The loop is assembly so that its 13 values stay in registers (GCC spilled two pointers):
 * per four inputs, two weight words, four input words, four SXTB16 and eight SMLAD. */
static void dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *x, int32_t n, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i = n & ~3;
    if (i) {
        const int8_t *end = w0 + i;
        const int32_t d = (int32_t)(w1 - w0);
        int32_t w, v, p, q, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[v], [%[wp], %[d]]\n\t"
            "ldr %[w], [%[wp]], #4\n\t"
            "ldr %[p], [%[x]], #16\n\t"
            "ldr %[q], [%[x], #-12]\n\t"
            "sxtb16 %[t], %[w]\n\t"
            "smlad %[a0], %[t], %[p], %[a0]\n\t"
            "smlad %[a2], %[t], %[q], %[a2]\n\t"
            "sxtb16 %[t], %[v]\n\t"
            "smlad %[a1], %[t], %[p], %[a1]\n\t"
            "smlad %[a3], %[t], %[q], %[a3]\n\t"
            "ldr %[p], [%[x], #-8]\n\t"
            "ldr %[q], [%[x], #-4]\n\t"
            "sxtb16 %[t], %[w], ror #8\n\t"
            "smlad %[a0], %[t], %[p], %[a0]\n\t"
            "smlad %[a2], %[t], %[q], %[a2]\n\t"
            "sxtb16 %[t], %[v], ror #8\n\t"
            "smlad %[a1], %[t], %[p], %[a1]\n\t"
            "smlad %[a3], %[t], %[q], %[a3]\n\t"
            "cmp %[wp], %[end]\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [wp] "+r"(w0),
              [w] "=&r"(w), [v] "=&r"(v), [p] "=&r"(p), [q] "=&r"(q), [t] "=&r"(t)
            : [d] "r"(d), [end] "r"(end)
            : "cc", "memory");
        w1 += i;
    }
    for (; i < n; ++i, ++w0, ++w1) {
        const int32_t k = IL(i & 3), p = x[k], q = x[k + 2];
        a0 += *w0 * p;
        a1 += *w1 * p;
        a2 += *w0 * q;
        a3 += *w1 * q;
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* the receptive field of output pixel px, minus the zero point, 0 outside the input, as
 * interleaved column c */
static void gather(const int8_t *in, int16_t *col, const hm_conv_params *p, int32_t px, int32_t c)
{
    const int32_t plane = p->h * p->w, y0 = px / p->ow * p->stride - p->pad;
    const int32_t x0 = px % p->ow * p->stride - p->pad;
    int32_t ci, ky, kx, k = 0;
    col += 2 * c;
    if (y0 >= 0 && x0 >= 0 && y0 + p->kh <= p->h && x0 + p->kw <= p->w) {  /* no padding in the window */
        const int8_t *src = in + y0 * p->w + x0;
        for (ci = 0; ci < p->cin; ++ci, src += plane)
            for (ky = 0; ky < p->kh; ++ky)
                for (kx = 0; kx < p->kw; ++kx, ++k)
                    col[IL(k)] = (int16_t)(src[ky * p->w + kx] - p->in_zp);
        return;
    }
    for (ci = 0; ci < p->cin; ++ci, in += plane)
        for (ky = 0; ky < p->kh; ++ky) {
            const int32_t y = y0 + ky;
            for (kx = 0; kx < p->kw; ++kx, ++k) {
                const int32_t x = x0 + kx;
                const int inside = y >= 0 && y < p->h && x >= 0 && x < p->w;
                col[IL(k)] = (int16_t)(inside ? in[y * p->w + x] - p->in_zp : 0);
            }
        }
}

/* every output channel of pixels px and px + 1 (px alone when pair is 0); inlined twice,
 * with fast 0 and 1, so that the fast copy keeps its values in registers */
__attribute__((always_inline)) static inline void conv_pixels(int8_t *out, const hm_conv_params *p,
                                                              const int16_t *x, int32_t px, int32_t pair, int32_t fast,
                                                              requant_plan q)
{
    const int32_t n = p->cin * p->kh * p->kw, pixels = p->oh * p->ow, cout = p->cout;
    const int8_t *weight = p->weight;
    const int32_t *bias = p->bias, *mult = p->mult, *shift = p->shift;
    int32_t co;
    for (co = 0; co < cout; co += 2) {
        const int32_t next = co + 1 < cout ? co + 1 : co;
        const int32_t m0 = mult ? mult[co] : 1, m1 = mult ? mult[next] : 1;
        const int32_t s0 = shift[co], s1 = shift[next];
        int8_t *o0 = out + co * pixels + px, *o1 = out + next * pixels + px;
        int32_t acc[4];
        acc[0] = acc[2] = bias[co];
        acc[1] = acc[3] = bias[next];
        if (!pair) {
            dot_2x1(weight + co * n, weight + next * n, x, n, acc);
            o0[0] = requant_dsp(acc[0], m0, s0, fast, q);
            o1[0] = requant_dsp(acc[1], m1, s1, fast, q);
            continue;
        }
        dot_2x2(weight + co * n, weight + next * n, x, n, acc);
        o0[0] = requant_dsp(acc[0], m0, s0, fast, q);
        o1[0] = requant_dsp(acc[1], m1, s1, fast, q);
        o0[1] = requant_dsp(acc[2], m0, s0, fast, q);
        o1[1] = requant_dsp(acc[3], m1, s1, fast, q);
    }
}

/* groups = 1: two output pixels by two output channels at a time (an odd last pixel alone) */
static void conv_dsp(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t pixels = p->oh * p->ow;
    const requant_plan q = plan_requant(p->mult, p->shift, p->cout, p->out_zp, p->tflite, p->act_min, p->act_max);
    int32_t px;
    for (px = 0; px < pixels; px += 2) {
        const int32_t pair = px + 1 < pixels;
        gather(in, p->scratch, p, px, 0);
        if (pair)
            gather(in, p->scratch, p, px + 1, 1);
        if (q.fast)
            conv_pixels(out, p, p->scratch, px, pair, 1, q);
        else
            conv_pixels(out, p, p->scratch, px, pair, 0, q);
    }
}

/* one depthwise 3x3 channel from its padded int16 plane: the taps as three pairs and three
 * singles; inlined twice, with fast 0 and 1 (see conv_pixels) */
__attribute__((always_inline)) static inline int8_t *depthwise_3x3(const int16_t *plane, int8_t *out,
                                                                  const hm_conv_params *p, int32_t co,
                                                                  int32_t fast, requant_plan q)
{
    const int32_t pw = p->w + 2 * p->pad, oh = p->oh, ow = p->ow, stride = p->stride;
    const int8_t *wk = p->weight + co * 9;
    const int32_t w01 = pack16(wk[0], wk[1]), w34 = pack16(wk[3], wk[4]);
    const int32_t w67 = pack16(wk[6], wk[7]), w2 = wk[2], w5 = wk[5], w8 = wk[8];
    const int32_t m_co = MULT(p, co), s_co = p->shift[co], b_co = p->bias[co];
    int32_t oy, ox;
    for (oy = 0; oy < oh; ++oy) {
        const int16_t *r = plane + oy * stride * pw;
        for (ox = 0; ox < ow; ++ox, r += stride) {
            int32_t acc = __smlad(word(r), w01, b_co) + r[2] * w2;
            acc = __smlad(word(r + pw), w34, acc) + r[pw + 2] * w5;
            acc = __smlad(word(r + 2 * pw), w67, acc) + r[2 * pw + 2] * w8;
            *out++ = requant_dsp(acc, m_co, s_co, fast, q);
        }
    }
    return out;
}

/* depthwise (one input channel per group): the channel, minus its zero point and padded
 * with zeros, as int16; each kernel row then takes SMLADs over pairs of taps */
static void depthwise_dsp(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t pw = p->w + 2 * p->pad, ph = p->h + 2 * p->pad, mult = p->cout / p->cin;
    const requant_plan q = plan_requant(p->mult, p->shift, p->cout, p->out_zp, p->tflite, p->act_min, p->act_max);
    int16_t *plane = p->scratch;
    int32_t c, m, y, x, oy, ox, ky, kx;
    for (y = 0; y < ph * pw; ++y)  /* the padding ring stays 0 for every channel */
        plane[y] = 0;
    for (c = 0; c < p->cin; ++c) {
        const int8_t *src = in + c * p->h * p->w;
        for (y = 0; y < p->h; ++y) {
            int16_t *dst = plane + (y + p->pad) * pw + p->pad;
            for (x = 0; x < p->w; ++x)
                dst[x] = (int16_t)(*src++ - p->in_zp);
        }
        for (m = 0; m < mult; ++m) {
            const int32_t co = c * mult + m;
            const int8_t *wk = p->weight + co * p->kh * p->kw;
            const int32_t m_co = MULT(p, co), s_co = p->shift[co], b_co = p->bias[co];
            if (p->kh == 3 && p->kw == 3) {  /* the common case */
                out = q.fast ? depthwise_3x3(plane, out, p, co, 1, q) : depthwise_3x3(plane, out, p, co, 0, q);
                continue;
            }
            for (oy = 0; oy < p->oh; ++oy)
                for (ox = 0; ox < p->ow; ++ox) {
                    int32_t acc = b_co;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int16_t *row = plane + (oy * p->stride + ky) * pw + ox * p->stride;
                        const int8_t *wr = wk + ky * p->kw;
                        for (kx = 0; kx + 2 <= p->kw; kx += 2)
                            acc = __smlad(word(row + kx), pack16(wr[kx], wr[kx + 1]), acc);
                        if (kx < p->kw)
                            acc += row[kx] * wr[kx];
                    }
                    *out++ = requant_dsp(acc, m_co, s_co, 0, q);
                }
        }
    }
}

#pragma GCC pop_options
#endif
