/* heiti micro int8 kernels: see heiti_micro.h and docs/micro.md for the semantics. */
#include "heiti_micro.h"

/* power-of-two models store no multipliers (NULL): requantization is a shift */
#define MULT(p, i) ((p)->mult ? (p)->mult[i] : 1)

/* Rounding half away from zero, on the magnitude: right shifts of negative numbers
 * are implementation-defined in C, and the golden model rounds the same way. */
static int32_t round_shift(int64_t p, int32_t shift, int32_t lo, int32_t hi)
{
    int64_t r;
    if (shift > 0) {
        int64_t mag = p < 0 ? -p : p;
        mag = (mag + ((int64_t)1 << (shift - 1))) >> shift;
        r = p < 0 ? -mag : mag;
    } else {
        r = p * ((int64_t)1 << -shift);  /* a multiply: left shifts of negatives are undefined */
    }
    if (r < lo) r = lo;
    if (r > hi) r = hi;
    return (int32_t)r;
}

int32_t hm_requant(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi)
{
    return round_shift((int64_t)acc * mult, shift, lo, hi);
}

/* floor(p / 2^s) without right-shifting a negative number */
static int64_t floor_shift(int64_t p, int32_t s)
{
    return p >= 0 ? p >> s : -((-p - 1) >> s) - 1;
}

int32_t hm_tflite_multiply(int32_t acc, int32_t mult, int32_t shift, int32_t rounding)
{
    const int32_t e = 31 - shift;
    if (rounding == HM_TFLITE_SINGLE)  /* one rounding, half up */
        return (int32_t)floor_shift((int64_t)acc * mult + ((int64_t)1 << (shift - 1)), shift);
    const int64_t x = (int64_t)acc * ((int64_t)1 << (e > 0 ? e : 0));
    /* SaturatingRoundingDoublingHighMul: rounds half up (M >= 0, so it never saturates) */
    const int64_t high = floor_shift(x * mult + ((int64_t)1 << 30), 31);
    /* RoundingDivideByPOT: half away from zero */
    return round_shift(high, e < 0 ? -e : 0, INT32_MIN, INT32_MAX);
}

static int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* an accumulator to the output int8, in the operator's scheme */
static int8_t requant_out(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp, int32_t tflite,
                          int32_t lo, int32_t hi)
{
    if (!tflite)
        return (int8_t)hm_requant(acc, mult, shift, lo, hi);
    return (int8_t)clamp32(clamp32(hm_tflite_multiply(acc, mult, shift, tflite) + out_zp, -128, 127), lo, hi);
}

void hm_preprocess_zp(const uint8_t *in, int8_t *out, int32_t channels, int32_t plane,
                      const int32_t *mean, int32_t mult, int32_t shift, int32_t zp)
{
    int32_t c, i;
    for (c = 0; c < channels; ++c)
        for (i = 0; i < plane; ++i, ++in, ++out)
            *out = (int8_t)clamp32(hm_requant((int32_t)*in - mean[c], mult, shift, INT32_MIN, INT32_MAX) + zp,
                                   -128, 127);
}

void hm_preprocess(const uint8_t *in, int8_t *out, int32_t channels, int32_t plane,
                   const int32_t *mean, int32_t mult, int32_t shift)
{
    hm_preprocess_zp(in, out, channels, plane, mean, mult, shift, 0);
}

#if HM_DSP
#include <arm_acle.h>

/* the hot loops at -O2 whatever the build's size optimization */
#pragma GCC push_options
#pragma GCC optimize("O2")

/* Dual 16-bit multiply-accumulate (SMLAD) needs both operands as int16 pairs. Weights stay
 * int8 in flash, stored by micro-c in the order (0, 2, 1, 3) in every group of four of a
 * row, so that SXTB16 of a word gives the pairs (w0, w1) and, rotated by 8 bits, (w2, w3);
 * the input minus its zero point is gathered into int16 scratch in its natural order. The
 * accumulators are exact int32 sums of the same products as in the portable loops, and the
 * requantization is the same arithmetic, so the outputs are bit-identical. */
__attribute__((always_inline)) static inline int32_t word(const void *p)
{
    int32_t v;
    __builtin_memcpy(&v, p, 4);  /* one (unaligned) LDR: -ffreestanding builds have no memcpy builtin */
    return v;
}

/* bytes 1 and 3 sign-extended to two int16: one SXTB16 with its rotation (GCC 12's ACLE
 * has no intrinsic for the rotated form) */
static int32_t sxtb16_ror8(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* two int16 in one word, a in the low half */
static int32_t pack16(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)(uint16_t)a | (uint32_t)(uint16_t)b << 16);
}

/* requant_out with 32x32->64-bit multiplies (SMULL) for the tflite schemes; GCC's signed
 * right shift is arithmetic (floor), as the portable floor_shift computes */
__attribute__((always_inline)) static inline int8_t requant_dsp(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp, int32_t tflite,
                          int32_t lo, int32_t hi)
{
    int32_t r;
    if (tflite == HM_TFLITE && shift >= 31) {
        const int32_t right = shift - 31;
        r = (int32_t)(((int64_t)acc * mult + ((int64_t)1 << 30)) >> 31);
        if (right) {
            const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
            const int32_t threshold = (mask >> 1) + (r < 0);
            r = (r >> right) + ((r & mask) > threshold);
        }
    } else if (tflite == HM_TFLITE_SINGLE) {
        r = (int32_t)(((int64_t)acc * mult + ((int64_t)1 << (shift - 1))) >> shift);
    } else {
        return requant_out(acc, mult, shift, out_zp, tflite, lo, hi);
    }
    return (int8_t)clamp32(__ssat(r + out_zp, 8), lo, hi);
}

/* acc[r][c] += row r . column c over n, for two weight rows and two gathered columns */
static void dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *x0, const int16_t *x1,
                    int32_t n, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i;
    for (i = 0; i + 4 <= n; i += 4) {
        const int32_t p01 = word(x0 + i), p23 = word(x0 + i + 2);
        const int32_t q01 = word(x1 + i), q23 = word(x1 + i + 2);
        int32_t w = word(w0 + i);
        a0 = __smlad(__sxtb16(w), p01, a0);
        a2 = __smlad(__sxtb16(w), q01, a2);
        a0 = __smlad(sxtb16_ror8(w), p23, a0);
        a2 = __smlad(sxtb16_ror8(w), q23, a2);
        w = word(w1 + i);
        a1 = __smlad(__sxtb16(w), p01, a1);
        a3 = __smlad(__sxtb16(w), q01, a3);
        a1 = __smlad(sxtb16_ror8(w), p23, a1);
        a3 = __smlad(sxtb16_ror8(w), q23, a3);
    }
    for (; i < n; ++i) {
        a0 += w0[i] * x0[i];
        a1 += w1[i] * x0[i];
        a2 += w0[i] * x1[i];
        a3 += w1[i] * x1[i];
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* the receptive field of output pixel px, minus the zero point, 0 outside the input */
static void gather(const int8_t *in, int16_t *col, const hm_conv_params *p, int32_t px)
{
    const int32_t plane = p->h * p->w, y0 = px / p->ow * p->stride - p->pad;
    const int32_t x0 = px % p->ow * p->stride - p->pad;
    int32_t ci, ky, kx;
    if (y0 >= 0 && x0 >= 0 && y0 + p->kh <= p->h && x0 + p->kw <= p->w) {  /* no padding in the window */
        const int8_t *src = in + y0 * p->w + x0;
        for (ci = 0; ci < p->cin; ++ci, src += plane)
            for (ky = 0; ky < p->kh; ++ky)
                for (kx = 0; kx < p->kw; ++kx)
                    *col++ = (int16_t)(src[ky * p->w + kx] - p->in_zp);
        return;
    }
    for (ci = 0; ci < p->cin; ++ci, in += plane)
        for (ky = 0; ky < p->kh; ++ky) {
            const int32_t y = y0 + ky;
            for (kx = 0; kx < p->kw; ++kx) {
                const int32_t x = x0 + kx;
                const int inside = y >= 0 && y < p->h && x >= 0 && x < p->w;
                *col++ = (int16_t)(inside ? in[y * p->w + x] - p->in_zp : 0);
            }
        }
}

/* groups = 1: two output pixels by two output channels at a time */
static void conv_dsp(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t n = p->cin * p->kh * p->kw, pixels = p->oh * p->ow;
    int16_t *c0 = p->scratch, *c1 = p->scratch + n;
    int32_t px, co;
    for (px = 0; px < pixels; px += 2) {
        const int32_t pair = px + 1 < pixels;
        gather(in, c0, p, px);
        if (pair)
            gather(in, c1, p, px + 1);
        for (co = 0; co < p->cout; co += 2) {
            const int32_t next = co + 1 < p->cout ? co + 1 : co;
            int8_t *o0 = out + co * pixels + px, *o1 = out + next * pixels + px;
            int32_t acc[4];
            acc[0] = acc[2] = p->bias[co];
            acc[1] = acc[3] = p->bias[next];
            dot_2x2(p->weight + co * n, p->weight + next * n, c0, pair ? c1 : c0, n, acc);
            o0[0] = requant_dsp(acc[0], MULT(p, co), p->shift[co], p->out_zp, p->tflite, p->act_min, p->act_max);
            o1[0] = requant_dsp(acc[1], MULT(p, next), p->shift[next], p->out_zp, p->tflite,
                                p->act_min, p->act_max);
            if (pair) {
                o0[1] = requant_dsp(acc[2], MULT(p, co), p->shift[co], p->out_zp, p->tflite,
                                    p->act_min, p->act_max);
                o1[1] = requant_dsp(acc[3], MULT(p, next), p->shift[next], p->out_zp, p->tflite,
                                    p->act_min, p->act_max);
            }
        }
    }
}

/* depthwise (one input channel per group): the channel, minus its zero point and padded
 * with zeros, as int16; each kernel row then takes SMLADs over pairs of taps */
static void depthwise_dsp(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t pw = p->w + 2 * p->pad, ph = p->h + 2 * p->pad, mult = p->cout / p->cin;
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
            if (p->kh == 3 && p->kw == 3) {  /* the common case: taps as three pairs and three singles */
                const int32_t w01 = pack16(wk[0], wk[1]), w34 = pack16(wk[3], wk[4]);
                const int32_t w67 = pack16(wk[6], wk[7]), w2 = wk[2], w5 = wk[5], w8 = wk[8];
                for (oy = 0; oy < p->oh; ++oy) {
                    const int16_t *r = plane + oy * p->stride * pw;
                    for (ox = 0; ox < p->ow; ++ox, r += p->stride) {
                        int32_t acc = __smlad(word(r), w01, b_co) + r[2] * w2;
                        acc = __smlad(word(r + pw), w34, acc) + r[pw + 2] * w5;
                        acc = __smlad(word(r + 2 * pw), w67, acc) + r[2 * pw + 2] * w8;
                        *out++ = requant_dsp(acc, m_co, s_co, p->out_zp, p->tflite, p->act_min, p->act_max);
                    }
                }
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
                    *out++ = requant_dsp(acc, m_co, s_co, p->out_zp, p->tflite, p->act_min, p->act_max);
                }
        }
    }
}

static void dense_dsp(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    int16_t *x = p->scratch;
    int32_t i, o;
    for (i = 0; i < p->in; ++i)
        x[i] = (int16_t)(in[i] - p->in_zp);
    for (o = 0; o < p->out; o += 2) {
        const int32_t next = o + 1 < p->out ? o + 1 : o;
        int32_t acc[4];
        acc[0] = acc[2] = p->bias[o];
        acc[1] = acc[3] = p->bias[next];
        dot_2x2(p->weight + o * p->in, p->weight + next * p->in, x, x, p->in, acc);
        out[o] = requant_dsp(acc[0], MULT(p, o), p->shift[o], p->out_zp, p->tflite, p->act_min, p->act_max);
        out[next] = requant_dsp(acc[1], MULT(p, next), p->shift[next], p->out_zp, p->tflite,
                                p->act_min, p->act_max);
    }
}
#pragma GCC pop_options
#endif

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

void hm_dense(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    int32_t o, i;
#if HM_DSP
    dense_dsp(in, out, p);
    return;
#endif
    for (o = 0; o < p->out; ++o) {
        const int8_t *row = p->weight + o * p->in;
        int32_t acc = p->bias[o];
        for (i = 0; i < p->in; ++i)
            acc += ((int32_t)in[i] - p->in_zp) * row[i];
        out[o] = requant_out(acc, MULT(p, o), p->shift[o], p->out_zp, p->tflite, p->act_min, p->act_max);
    }
}

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

void hm_avgpool(const int8_t *in, int8_t *out, const hm_pool_params *p)
{
    const int32_t count = p->kh * p->kw;
    int32_t c, oy, ox, ky, kx;
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
    for (i = 0; i < p->count; ++i) {
        const int32_t sa = ((int32_t)a[i] - p->a_zp) * (1 << p->left_shift);
        const int32_t sb = ((int32_t)b[i] - p->b_zp) * (1 << p->left_shift);
        const int32_t sum = hm_tflite_multiply(sa, p->mult[0], p->shift[0], p->tflite)
                            + hm_tflite_multiply(sb, p->mult[1], p->shift[1], p->tflite);
        out[i] = requant_out(sum, p->mult[2], p->shift[2], p->out_zp, p->tflite, p->act_min, p->act_max);
    }
}

void hm_clamp(const int8_t *in, int8_t *out, int32_t count, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < count; ++i)
        out[i] = (int8_t)(in[i] < act_min ? act_min : (in[i] > act_max ? act_max : in[i]));
}

void hm_copy(const int8_t *in, int8_t *out, int32_t count)
{
    int32_t i;
    for (i = 0; i < count; ++i)
        out[i] = in[i];
}

int32_t hm_argmax(const int8_t *x, int32_t count)
{
    int32_t i, best = 0;
    for (i = 1; i < count; ++i)
        if (x[i] > x[best]) best = i;
    return best;
}
