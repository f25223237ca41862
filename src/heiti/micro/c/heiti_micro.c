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

void hm_conv2d(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t cg = p->cin / p->groups, og = p->cout / p->groups;
    int32_t co, oy, ox, ci, ky, kx;
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
