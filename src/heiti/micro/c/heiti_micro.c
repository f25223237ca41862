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

/* the high word of (hi:lo) + a * b: one SMLAL (GCC sometimes builds a 64x64 product) */
__attribute__((always_inline)) static inline int32_t smlal_high(uint32_t lo, int32_t hi, int32_t a, int32_t b)
{
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return hi;
}

/* A layer's requantization, checked once per layer: `fast` when every channel takes the
 * one-multiply path below (the tflite schemes with a total right shift from 33 to 62 and
 * multipliers >= 0, as TFLite's converter produces for scales below 2^-2). */
typedef struct {
    int32_t fast, dbl, out_zp, tflite, lo, hi;
} requant_plan;

static requant_plan plan_requant(const int32_t *mult, const int32_t *shift, int32_t count, int32_t out_zp,
                                 int32_t tflite, int32_t lo, int32_t hi)
{
    requant_plan q = {tflite != 0 && mult != 0, tflite == HM_TFLITE ? -1 : 0, out_zp, tflite, lo, hi};
    int32_t i;
    for (i = 0; i < count && q.fast; ++i)
        q.fast = shift[i] >= 33 && shift[i] <= 62 && mult[i] >= 0;
    return q;
}

/* TFLite's MultiplyByQuantizedMultiplier in one SMLAL and one shift. With P = acc * mult
 * and s = shift, the double rounding floor(RoundingDivideByPOT(floor((P + 2^30) / 2^31),
 * s - 31)) equals floor((P + 2^30 + 2^(s-1) - [acc < 0] 2^31) / 2^s) (nested floors by
 * integers; with mult >= 0 the sign of the first rounding's result is that of acc except
 * where it is 0, which then rounds to 0 either way), and the single rounding is
 * floor((P + 2^(s-1)) / 2^s); s >= 33 puts the 2^(s-1) term in the high word. */
__attribute__((always_inline)) static inline int8_t requant_dsp(int32_t acc, int32_t mult, int32_t shift,
                                                                int32_t fast, requant_plan q)
{
    if (fast) {  /* a constant in each specialized copy of the loops: q.fast */
        const int32_t neg = (acc >> 31) & q.dbl;  /* GCC's signed right shift is arithmetic */
        const uint32_t lo = ((uint32_t)q.dbl & 0x40000000u) | (uint32_t)neg << 31;
        const int32_t r = smlal_high(lo, (1 << (shift - 33)) + neg, acc, mult) >> (shift - 32);
        return (int8_t)clamp32(__ssat(r + q.out_zp, 8), q.lo, q.hi);
    }
    return requant_out(acc, mult, shift, q.out_zp, q.tflite, q.lo, q.hi);
}

/* Gathered inputs are interleaved by pairs, so one pointer walks both columns: element k of
 * column c is at IL(k) + 2 c, i.e. the words (c0 k, k+1), (c1 k, k+1), (c0 k+2, k+3), ... */
#define IL(k) (2 * (k) - ((k) & 1))

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

/* acc[r] += row r . column 0 over n, for two weight rows and an interleaved column */
static void dot_2x1(const int8_t *w0, const int8_t *w1, const int16_t *x, int32_t n, int32_t acc[2])
{
    int32_t a0 = acc[0], a1 = acc[1], i;
    for (i = 0; i + 4 <= n; i += 4, x += 8) {
        const int32_t p01 = word(x), p23 = word(x + 4);
        const int32_t v = word(w0 + i), u = word(w1 + i);
        a0 = __smlad(__sxtb16(v), p01, a0);
        a1 = __smlad(__sxtb16(u), p01, a1);
        a0 = __smlad(sxtb16_ror8(v), p23, a0);
        a1 = __smlad(sxtb16_ror8(u), p23, a1);
    }
    for (; i < n; ++i) {
        const int32_t p = x[IL(i & 3)];
        a0 += w0[i] * p;
        a1 += w1[i] * p;
    }
    acc[0] = a0, acc[1] = a1;
}

/* the receptive field of output pixel px, minus the zero point, 0 outside the input, as
 * interleaved column c */
/* the two columns of adjacent pixels px, px + 1 of a 1x1 convolution with stride 1 and no
 * padding (pointwise layers): pixel px of channel k is in[k * plane + px]. A halfword per
 * channel holds both pixels; two channels' halfwords make one word whose SXTB16 forms are
 * exactly the interleaved words (c0 k, k+1) and (c1 k, k+1). */
static void gather_pointwise(const int8_t *in, int16_t *col, const hm_conv_params *p, int32_t px)
{
    const int32_t plane = p->h * p->w, zp = pack16(p->in_zp, p->in_zp);
    const int8_t *src = in + px;
    int32_t k;
    for (k = 0; k + 2 <= p->cin; k += 2, src += 2 * plane, col += 4) {
        uint16_t h0, h1;
        int32_t v;
        __builtin_memcpy(&h0, src, 2);
        __builtin_memcpy(&h1, src + plane, 2);
        v = (int32_t)((uint32_t)h0 | (uint32_t)h1 << 16);
        __builtin_memcpy(col, &(int32_t){__ssub16(__sxtb16(v), zp)}, 4);
        __builtin_memcpy(col + 2, &(int32_t){__ssub16(sxtb16_ror8(v), zp)}, 4);
    }
    if (k < p->cin) {  /* an odd last channel: IL(k) for even k is 2 k */
        col[0] = (int16_t)(src[0] - p->in_zp);
        col[2] = (int16_t)(src[1] - p->in_zp);
    }
}

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
    const int32_t pointwise = p->kh == 1 && p->kw == 1 && p->stride == 1 && p->pad == 0;
    for (px = 0; px < pixels; px += 2) {
        const int32_t pair = px + 1 < pixels;
        if (pair && pointwise) {
            gather_pointwise(in, p->scratch, p, px);
        } else {
            gather(in, p->scratch, p, px, 0);
            if (pair)
                gather(in, p->scratch, p, px + 1, 1);
        }
        if (q.fast)
            conv_pixels(out, p, p->scratch, px, pair, 1, q);
        else
            conv_pixels(out, p, p->scratch, px, pair, 0, q);
    }
}

/* n accumulators (without bias) of one output row of a depthwise 3x3 channel, from its padded
 * int16 plane: per output three SMLADs over tap pairs and three SMLABB/SMLABT for the third
 * column. Assembly, so that its 13 values stay in registers (GCC spilled most of them).
 * taps: (w0, w1), (w3, w4), (w6, w7), (w2, w5), w8 as int16 pairs. */
__attribute__((always_inline)) static inline void depthwise_3x3_row(const int16_t *r, int32_t *acc, int32_t n,
                                                                     int32_t row_bytes,
                              int32_t step_bytes, const int32_t taps[5])
{
    const int32_t w01 = taps[0], w34 = taps[1], w67 = taps[2], w25 = taps[3], w8 = taps[4];
    int32_t a, t, u;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[t], [%[r]]\n\t"
        "smuad %[a], %[t], %[w01]\n\t"
        "ldrh %[t], [%[r], #4]\n\t"
        "smlabb %[a], %[t], %[w25], %[a]\n\t"
        "ldr %[t], [%[r], %[row]]\n\t"
        "smlad %[a], %[t], %[w34], %[a]\n\t"
        "add %[u], %[r], %[row]\n\t"
        "ldrh %[t], [%[u], #4]\n\t"
        "smlabt %[a], %[t], %[w25], %[a]\n\t"
        "ldr %[t], [%[u], %[row]]\n\t"
        "smlad %[a], %[t], %[w67], %[a]\n\t"
        "add %[u], %[u], %[row]\n\t"
        "ldrh %[t], [%[u], #4]\n\t"
        "smlabb %[a], %[t], %[w8], %[a]\n\t"
        "str %[a], [%[acc]], #4\n\t"
        "add %[r], %[r], %[step]\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [r] "+r"(r), [acc] "+r"(acc), [n] "+r"(n), [a] "=&r"(a), [t] "=&r"(t), [u] "=&r"(u)
        : [row] "r"(row_bytes), [step] "r"(step_bytes), [w01] "r"(w01), [w34] "r"(w34), [w67] "r"(w67),
          [w25] "r"(w25), [w8] "r"(w8)
        : "cc", "memory");
}

/* out[i] = requant(acc[i] + bias) for one channel's accumulators on the one-SMLAL path; a
 * function of its own so that its loop keeps every value in a register */
__attribute__((noinline)) static void requant_fast_block(const int32_t *acc, int8_t *out, int32_t n,
                                                         int32_t bias, int32_t mult, int32_t shift,
                                                         requant_plan q)
{
    const int32_t hi_pos = 1 << (shift - 33), right = shift - 32, zp = q.out_zp, lo = q.lo, hi = q.hi;
    const uint32_t round = (uint32_t)q.dbl & 0x40000000u;
    const int8_t *end = out + n;
    while (out < end) {
        const int32_t a = *acc++ + bias, neg = (a >> 31) & q.dbl;
        const int32_t r = smlal_high(round | (uint32_t)neg << 31, hi_pos + neg, a, mult) >> right;
        *out++ = (int8_t)clamp32(__ssat(r + zp, 8), lo, hi);
    }
}

/* one depthwise 3x3 channel from its padded int16 plane, in two passes: the accumulators of
 * up to DW_OUTPUTS outputs, then their requantization; inlined twice, with fast 0 and 1 (see
 * conv_pixels) */
enum { DW_OUTPUTS = 128 };
__attribute__((always_inline)) static inline int8_t *depthwise_3x3(const int16_t *plane, int8_t *out,
                                                                  const hm_conv_params *p, int32_t co,
                                                                  int32_t fast, requant_plan q)
{
    const int32_t pw = p->w + 2 * p->pad, oh = p->oh, ow = p->ow, stride = p->stride;
    const int8_t *wk = p->weight + co * 9;
    const int32_t taps[5] = {pack16(wk[0], wk[1]), pack16(wk[3], wk[4]), pack16(wk[6], wk[7]),
                             pack16(wk[2], wk[5]), wk[8]};
    const int32_t m_co = MULT(p, co), s_co = p->shift[co], b_co = p->bias[co];
    const int32_t rows = DW_OUTPUTS / ow;  /* output rows per pass */
    int32_t acc[DW_OUTPUTS], oy, y, i, n;
    for (oy = 0; oy < oh; oy += rows) {
        n = (oh - oy < rows ? oh - oy : rows);
        for (y = 0; y < n; ++y)
            depthwise_3x3_row(plane + (oy + y) * stride * pw, acc + y * ow, ow, 2 * pw, 2 * stride, taps);
        n *= ow;
        if (fast) {
            requant_fast_block(acc, out, n, b_co, m_co, s_co, q);
            out += n;
            continue;
        }
        for (i = 0; i < n; ++i)
            *out++ = requant_dsp(acc[i] + b_co, m_co, s_co, 0, q);
    }
    return out;
}

/* depthwise 3x3 with padding 1 on a 2x2 map, the last stage of small networks: each output
 * sees 4 of the 9 taps. A channel's 4 inputs are one word, (x00, x01, x10, x11); SXTB16
 * gives the column pairs A = (x00, x10) and B = (x01, x11), and every output is two SMLADs
 * with vertical pairs of taps: out(0,0) = A.(w11, w21) + B.(w12, w22) and so on. */
__attribute__((always_inline)) static inline void depthwise_2x2(const int8_t *in, int8_t *out,
                                                                const hm_conv_params *p, int32_t fast,
                                                                requant_plan q)
{
    const int32_t zp = pack16(p->in_zp, p->in_zp);
    const int8_t *wk = p->weight;
    int32_t c;
    for (c = 0; c < p->cout; ++c, wk += 9, in += 4, out += 4) {
        const int32_t v = word(in), a = __ssub16(__sxtb16(v), zp), b = __ssub16(sxtb16_ror8(v), zp);
        const int32_t w00_10 = pack16(wk[0], wk[3]), w01_11 = pack16(wk[1], wk[4]), w02_12 = pack16(wk[2], wk[5]);
        const int32_t w10_20 = pack16(wk[3], wk[6]), w11_21 = pack16(wk[4], wk[7]), w12_22 = pack16(wk[5], wk[8]);
        const int32_t bias = p->bias[c], m = MULT(p, c), s = p->shift[c];
        out[0] = requant_dsp(__smlad(b, w12_22, __smlad(a, w11_21, bias)), m, s, fast, q);
        out[1] = requant_dsp(__smlad(b, w11_21, __smlad(a, w10_20, bias)), m, s, fast, q);
        out[2] = requant_dsp(__smlad(b, w02_12, __smlad(a, w01_11, bias)), m, s, fast, q);
        out[3] = requant_dsp(__smlad(b, w01_11, __smlad(a, w00_10, bias)), m, s, fast, q);
    }
}

/* an h x w int8 channel minus its zero point into int16 rows `pitch` apart (the inside of a
 * padded plane); four values per word: two SXTB16, two SSUB16, two halfword packs */
__attribute__((noinline)) static void widen_channel(const int8_t *src, int16_t *dst, int32_t h, int32_t w,
                                                    int32_t pitch, int32_t zp)
{
    const int32_t zp2 = pack16(zp, zp);
    int32_t y, x;
    for (y = 0; y < h; ++y, dst += pitch) {
        for (x = 0; x + 4 <= w; x += 4, src += 4) {
            const int32_t v = word(src), even = __ssub16(__sxtb16(v), zp2);  /* (x0, x2) */
            const int32_t odd = __ssub16(sxtb16_ror8(v), zp2);               /* (x1, x3) */
            const uint32_t x01 = ((uint32_t)even & 0xFFFFu) | (uint32_t)odd << 16;
            const uint32_t x23 = (uint32_t)even >> 16 | ((uint32_t)odd & 0xFFFF0000u);
            __builtin_memcpy(dst + x, &x01, 4);
            __builtin_memcpy(dst + x + 2, &x23, 4);
        }
        for (; x < w; ++x)
            dst[x] = (int16_t)(*src++ - zp);
    }
}

/* depthwise (one input channel per group): the channel, minus its zero point and padded
 * with zeros, as int16; each kernel row then takes SMLADs over pairs of taps */
static void depthwise_dsp(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t pw = p->w + 2 * p->pad, ph = p->h + 2 * p->pad, mult = p->cout / p->cin;
    const requant_plan q = plan_requant(p->mult, p->shift, p->cout, p->out_zp, p->tflite, p->act_min, p->act_max);
    int16_t *plane = p->scratch;
    if (p->h == 2 && p->w == 2 && p->kh == 3 && p->kw == 3 && p->pad == 1 && p->stride == 1
        && p->cout == p->cin) {
        if (q.fast)
            depthwise_2x2(in, out, p, 1, q);
        else
            depthwise_2x2(in, out, p, 0, q);
        return;
    }
    int32_t c, m, y, oy, ox, ky, kx;
    for (y = 0; y < ph * pw; ++y)  /* the padding ring stays 0 for every channel */
        plane[y] = 0;
    for (c = 0; c < p->cin; ++c) {
        widen_channel(in + c * p->h * p->w, plane + p->pad * pw + p->pad, p->h, p->w, pw, p->in_zp);
        for (m = 0; m < mult; ++m) {
            const int32_t co = c * mult + m;
            const int8_t *wk = p->weight + co * p->kh * p->kw;
            const int32_t m_co = MULT(p, co), s_co = p->shift[co], b_co = p->bias[co];
            if (p->kh == 3 && p->kw == 3 && p->ow <= DW_OUTPUTS) {  /* the common case */
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

static void dense_dsp(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    const requant_plan q = plan_requant(p->mult, p->shift, p->out, p->out_zp, p->tflite, p->act_min, p->act_max);
    int16_t *x = p->scratch;
    int32_t i, o;
    for (i = 0; i < p->in; ++i)  /* as an interleaved column */
        x[IL(i)] = (int16_t)(in[i] - p->in_zp);
    for (o = 0; o < p->out; o += 2) {
        const int32_t next = o + 1 < p->out ? o + 1 : o;
        int32_t acc[2];
        acc[0] = p->bias[o];
        acc[1] = p->bias[next];
        dot_2x1(p->weight + o * p->in, p->weight + next * p->in, x, p->in, acc);
        out[o] = requant_dsp(acc[0], MULT(p, o), p->shift[o], q.fast, q);
        out[next] = requant_dsp(acc[1], MULT(p, next), p->shift[next], q.fast, q);
    }
}
/* TFLite's rescaling of an ADD input, (a - zp) * 2^left * M * 2^-s with double rounding, in
 * 32-bit arithmetic. With d = a - zp, SaturatingRoundingDoublingHighMul(d * 2^left, M) is
 * floor((d * M + 2^(30 - left)) / 2^(31 - left)) exactly; splitting M = hi * 2^(31 - left) + lo
 * gives d * hi + floor((d * lo + 2^(30 - left)) / 2^(31 - left)) with both products in int32
 * (|d| <= 255, lo < 2^11 for left = 20). RoundingDivideByPOT by e = s - 31 then rounds half
 * away from zero. The input with the larger scale has M = 2^30 and e = 0 (TFLite rescales it
 * by exactly 1/2), which is d * 2^(left - 1): `plain` below. */
typedef struct {
    int32_t zp, hi, lo, bits, half, e, bias, plain;
} add_input;

static add_input plan_add_input(int32_t zp, int32_t mult, int32_t shift, int32_t left)
{
    const int32_t bits = 31 - left, e = shift - 31;
    add_input r = {zp, mult >> bits, mult & ((1 << bits) - 1), bits, 1 << (bits - 1), e,
                   e > 0 ? 1 << (e - 1) : 0, mult == 1 << 30 && e == 0};
    return r;
}

__attribute__((always_inline)) static inline int32_t add_rescale(int32_t a, add_input q, int32_t plain)
{
    const int32_t d = a - q.zp;
    int32_t high;
    if (plain)
        return d * (1 << (30 - q.bits));
    high = d * q.hi + ((d * q.lo + q.half) >> q.bits);  /* GCC's >> is arithmetic */
    if (q.e == 0)
        return high;
    return (high + q.bias - (int32_t)((uint32_t)high >> 31)) >> q.e;
}

__attribute__((always_inline)) static inline void add_loop(const int8_t *a, const int8_t *b, int8_t *out,
                                                           int32_t n, add_input qa, add_input qb,
                                                           int32_t mult, int32_t shift, requant_plan q,
                                                           int32_t plain_a, int32_t clamp)
{
    const int32_t neg_lo = (1 << (shift - 33)) - 1, pos_lo = 1 << (shift - 33), right = shift - 32;
    const int8_t *end = a + n;
    while (a < end) {
        const int32_t acc = add_rescale(*a++, qa, plain_a) + add_rescale(*b++, qb, 0);
        /* requant_dsp's one-SMLAL multiply (double rounding) */
        const int32_t sign = acc >> 31;
        const int32_t r = smlal_high(0x40000000u | (uint32_t)sign << 31, sign ? neg_lo : pos_lo, acc, mult)
                          >> right;
        const int32_t v = __ssat(r + q.out_zp, 8);
        *out++ = (int8_t)(clamp ? clamp32(v, q.lo, q.hi) : v);
    }
}

/* the double-rounding ADD when its shifts allow the 32-bit paths: inputs rescaled as above
 * (left shift 1..30, input shifts 31..62, as TFLite's converter makes them) and the sum by
 * requant_dsp's one-SMLAL path */
static int32_t add_dsp(const int8_t *a, const int8_t *b, int8_t *out, const hm_add_params *p)
{
    const requant_plan q = plan_requant(&p->mult[2], &p->shift[2], 1, p->out_zp, p->tflite, p->act_min,
                                        p->act_max);
    add_input qa, qb, t;
    if (p->tflite != HM_TFLITE || !q.fast || p->left_shift < 1 || p->left_shift > 30 || p->shift[0] < 31
        || p->shift[1] < 31 || p->shift[0] > 62 || p->shift[1] > 62 || p->mult[0] < 0 || p->mult[1] < 0)
        return 0;
    qa = plan_add_input(p->a_zp, p->mult[0], p->shift[0], p->left_shift);
    qb = plan_add_input(p->b_zp, p->mult[1], p->shift[1], p->left_shift);
    if (qb.plain && !qa.plain) {  /* the sum is symmetric: the plain input first */
        const int8_t *swap = a;
        a = b, b = swap, t = qa, qa = qb, qb = t;
    }
    {
        const int32_t clamp = q.lo > -128 || q.hi < 127;
        if (qa.plain && !clamp)
            add_loop(a, b, out, p->count, qa, qb, p->mult[2], p->shift[2], q, 1, 0);
        else if (qa.plain)
            add_loop(a, b, out, p->count, qa, qb, p->mult[2], p->shift[2], q, 1, 1);
        else
            add_loop(a, b, out, p->count, qa, qb, p->mult[2], p->shift[2], q, 0, 1);
    }
    return 1;
}
/* the sum of n int8 values: four per word into two int16 lanes pairs (SXTAB16), at most 1020
 * values so that no lane overflows */
__attribute__((always_inline)) static inline int32_t sum_dsp(const int8_t *x, int32_t n)
{
    int32_t even = 0, odd = 0, sum, i;
    for (i = 0; i + 4 <= n; i += 4) {
        const int32_t v = word(x + i);
        even = __sxtab16(even, v);
        __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(odd) : "r"(v));  /* bytes 1 and 3 */
    }
    even = __sadd16(even, odd);
    sum = (int16_t)even + (even >> 16);
    for (; i < n; ++i)
        sum += x[i];
    return sum;
}

/* one output of average pooling from its window's sum, as hm_avgpool computes it */
__attribute__((always_inline)) static inline int8_t average(int32_t sum, int32_t count, int32_t mode,
                                                            const hm_pool_params *p, requant_plan q)
{
    int32_t mag;
    if (mode == HM_POOL_REQUANT)
        return requant_dsp(sum - count * p->in_zp, p->mult, p->shift, q.fast, q);
    mag = ((sum < 0 ? -sum : sum) + count / 2) / count;  /* half away from zero */
    mag = sum < 0 ? -mag : mag;
    return (int8_t)(mode ? clamp32(mag, q.lo, q.hi) : mag);
}

__attribute__((always_inline)) static inline void avgpool_rows(const int8_t *in, int8_t *out,
                                                               const hm_pool_params *p, requant_plan q,
                                                               int32_t mode)
{
    const int32_t count = p->kh * p->kw, plane = p->h * p->w, step = p->stride * p->w;
    const int8_t *end = in + p->c * plane;
    int32_t oy;
    if (p->oh == 1) {  /* global pooling: one window per channel */
        for (; in < end; in += plane)
            *out++ = average(sum_dsp(in, count), count, mode, p, q);
        return;
    }
    for (; in < end; in += plane)
        for (oy = 0; oy < p->oh; ++oy)
            *out++ = average(sum_dsp(in + oy * step, count), count, mode, p, q);
}

/* average pooling whose windows are whole rows (kw == w: the window is kh * w contiguous
 * values, as in global average pooling) summed by words; the same rounding as hm_avgpool */
static int32_t avgpool_dsp(const int8_t *in, int8_t *out, const hm_pool_params *p)
{
    const requant_plan q = plan_requant(&p->mult, &p->shift, 1, p->out_zp, p->tflite, p->act_min, p->act_max);
    if (p->kw != p->w || p->ow != 1 || p->kh * p->kw > 1020)
        return 0;
    if (p->mode == HM_POOL_REQUANT)
        avgpool_rows(in, out, p, q, HM_POOL_REQUANT);
    else if (p->mode == HM_POOL_ROUND)
        avgpool_rows(in, out, p, q, HM_POOL_ROUND);
    else
        avgpool_rows(in, out, p, q, HM_POOL_HEITI);
    return 1;
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
#if HM_DSP
    if (add_dsp(a, b, out, p))
        return;
#endif
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
