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

/* col_c[r] += row r . column c over n, for two weight rows and the two interleaved columns.
 * The loop is assembly so that its 13 values stay in registers (GCC spilled two pointers):
 * per four inputs, two weight words, two LDRD of input words (x word aligned), four SXTB16
 * and eight SMLAD. */
static void dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *x, int32_t n, int32_t col0[2],
                    int32_t col1[2])
{
    int32_t a0 = col0[0], a1 = col0[1], a2 = col1[0], a3 = col1[1], i = n & ~3;
    if (i) {
        const int8_t *end = w0 + i;
        const int32_t d = (int32_t)(w1 - w0);
        int32_t w, v, p, q, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[v], [%[wp], %[d]]\n\t"
            "ldr %[w], [%[wp]], #4\n\t"
            "ldrd %[p], %[q], [%[x]], #16\n\t"
            "sxtb16 %[t], %[w]\n\t"
            "smlad %[a0], %[t], %[p], %[a0]\n\t"
            "smlad %[a2], %[t], %[q], %[a2]\n\t"
            "sxtb16 %[t], %[v]\n\t"
            "smlad %[a1], %[t], %[p], %[a1]\n\t"
            "smlad %[a3], %[t], %[q], %[a3]\n\t"
            "ldrd %[p], %[q], [%[x], #-8]\n\t"
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
    col0[0] = a0, col0[1] = a1, col1[0] = a2, col1[1] = a3;
}

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

/* The accumulators of `count` output channels for pixel px (acc) and px + 1 (acc + CONV_CHUNK,
 * when pair): two channels at a time, an odd last channel takes its row twice. */
#define CONV_CHUNK 64  /* output channels per pass: 2 x 64 + 2 int32 on the stack */
#define HM_STR(x) #x
#define HM_XSTR(x) HM_STR(x)

/* dot_2x2 for `pairs` channel pairs in a row, each from its two bias values (fan-in n a
 * multiple of 4, at least 4): the whole loop in assembly, its 13 values and the channel
 * loop's bias pointer, count and column start kept in registers or on its own stack. */
__attribute__((naked)) static void dot_pairs_2x2(HM_UNUSED const int8_t *w, HM_UNUSED int32_t n,
                                                 HM_UNUSED const int16_t *x, HM_UNUSED int32_t *acc,
                                                 HM_UNUSED const int32_t *bias, HM_UNUSED int32_t pairs)
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "sub sp, sp, #12\n\t"
        "str r2, [sp, #0]\n\t"          /* the column start */
        "ldr r12, [sp, #48]\n\t"
        "str r12, [sp, #4]\n\t"         /* bias */
        "ldr r12, [sp, #52]\n\t"
        "str r12, [sp, #8]\n\t"         /* pairs */
        "mov lr, r3\n"
        "1:\n\t"
        "ldr r12, [sp, #4]\n\t"
        "ldrd r4, r5, [r12], #8\n\t"
        "str r12, [sp, #4]\n\t"
        "mov r6, r4\n\t"
        "mov r7, r5\n\t"
        "ldr r2, [sp, #0]\n\t"
        "add r3, r0, r1\n"               /* the end of row 0 */
        "2:\n\t"
        "ldr r9, [r0, r1]\n\t"
        "ldr r8, [r0], #4\n\t"
        "ldrd r10, r11, [r2], #16\n\t"
        "sxtb16 r12, r8\n\t"
        "smlad r4, r12, r10, r4\n\t"
        "smlad r6, r12, r11, r6\n\t"
        "sxtb16 r12, r9\n\t"
        "smlad r5, r12, r10, r5\n\t"
        "smlad r7, r12, r11, r7\n\t"
        "ldrd r10, r11, [r2, #-8]\n\t"
        "sxtb16 r12, r8, ror #8\n\t"
        "smlad r4, r12, r10, r4\n\t"
        "smlad r6, r12, r11, r6\n\t"
        "sxtb16 r12, r9, ror #8\n\t"
        "smlad r5, r12, r10, r5\n\t"
        "smlad r7, r12, r11, r7\n\t"
        "cmp r0, r3\n\t"
        "bne 2b\n\t"
        "strd r6, r7, [lr, #" HM_XSTR(CONV_CHUNK) " * 4]\n\t"
        "strd r4, r5, [lr], #8\n\t"
        "add r0, r0, r1\n\t"            /* past row 1 */
        "ldr r12, [sp, #8]\n\t"
        "subs r12, r12, #1\n\t"
        "str r12, [sp, #8]\n\t"
        "bne 1b\n\t"
        "add sp, sp, #12\n\t"
        "pop {r4-r11, pc}");
}

__attribute__((always_inline)) static inline void conv_acc(const int8_t *w, const int32_t *bias, int32_t n,
                                                           const int16_t *x, int32_t count, int32_t pair,
                                                           int32_t *acc)
{
    int32_t c = 0;
    if (pair && n >= 4 && !(n & 3) && count >= 2) {
        c = count & ~1;
        dot_pairs_2x2(w, n, x, acc, bias, c >> 1);
        w += c * n, acc += c, bias += c;
    }
    for (; c < count; c += 2, acc += 2, w += 2 * n, bias += 2) {
        const int32_t two = c + 1 < count;
        acc[0] = acc[CONV_CHUNK] = bias[0];
        acc[1] = acc[CONV_CHUNK + 1] = bias[two];
        if (pair)
            dot_2x2(w, w + two * n, x, n, acc, acc + CONV_CHUNK);
        else
            dot_2x1(w, w + two * n, x, n, acc, 0);
    }
}

/* groups = 1: two output pixels by two output channels at a time (an odd last pixel alone) */
static void conv_dsp(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t pixels = p->oh * p->ow, n = p->cin * p->kh * p->kw;
    const requant_plan q = plan_requant(p->mult, p->shift, p->cout, p->out_zp, p->tflite, p->act_min, p->act_max);
    const int32_t pointwise = p->kh == 1 && p->kw == 1 && p->stride == 1 && p->pad == 0;
    int16_t *x = scratch_words(p->scratch);
    int32_t acc[2 * CONV_CHUNK + 2], px, co;
    for (px = 0; px < pixels; px += 2) {
        const int32_t pair = px + 1 < pixels;
        if (pair && pointwise) {
            gather_pointwise(in, x, p, px);
        } else {
            gather(in, x, p, px, 0);
            if (pair)
                gather(in, x, p, px + 1, 1);
        }
        for (co = 0; co < p->cout; co += CONV_CHUNK) {
            const int32_t count = p->cout - co < CONV_CHUNK ? p->cout - co : CONV_CHUNK;
            if (pair)
                conv_acc(p->weight + co * n, p->bias + co, n, x, count, 1, acc);
            else
                conv_acc(p->weight + co * n, p->bias + co, n, x, count, 0, acc);
            requant_block(acc, CONV_CHUNK, out + co * pixels + px, count, pixels, p->mult ? p->mult + co : 0,
                          p->shift + co, 1 + pair, q);
        }
    }
}

#if !HM_NO_DEPTHWISE  /* micro-c defines it for models without depthwise layers: ~12 KB less flash */
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

/* channel c minus its zero point into the inside of the padded plane */
__attribute__((always_inline)) static inline void widen_into_plane(const int8_t *src, int16_t *plane,
                                                                   const hm_conv_params *p, int32_t pw)
{
    int32_t y, x;
    if (p->h * p->w >= 32) {
        widen_channel(src, plane + p->pad * pw + p->pad, p->h, p->w, pw, p->in_zp);
        return;
    }
    for (y = 0; y < p->h; ++y) {  /* a few values: the call would cost more than it saves */
        int16_t *dst = plane + (y + p->pad) * pw + p->pad;
        for (x = 0; x < p->w; ++x)
            dst[x] = (int16_t)(*src++ - p->in_zp);
    }
}

/* Depthwise 3x3, channel multiplier 1, on a small output map (fewer than DW_SMALL outputs, the
 * late stages of small networks): per output only the kernel rows that lie inside the input
 * (one of three on a 1-row map), each one SMLAD over a tap pair and one SMLABB. The rows of
 * every output are the same for all channels: a table made once per layer holds each
 * output's first plane element (offset), first kernel row and row count. */
enum { DW_SMALL = 16 };

__attribute__((always_inline)) static inline void depthwise_small_channels(const int8_t *in, int8_t *out,
                                                                           const hm_conv_params *p,
                                                                           int16_t *plane, const int32_t *table,
                                                                           int32_t n, int32_t path, requant_plan q)
{
    const int32_t pw = p->w + 2 * p->pad, hw = p->h * p->w;
    const int8_t *wk = p->weight;
    int32_t c, i;
    for (c = 0; c < p->cin; ++c, in += hw, wk += 9) {
        const int32_t pairs[3] = {pack16(wk[0], wk[1]), pack16(wk[3], wk[4]), pack16(wk[6], wk[7])};
        const int32_t singles[3] = {wk[2], wk[5], wk[8]};
        const int32_t bias = p->bias[c], m = MULT(p, c), s = p->shift[c];
        const rq_channel r = path == RQ_SLOW ? rq_for(1, 33) : rq_for(m, s);
        widen_into_plane(in, plane, p, pw);
        for (i = 0; i < n; ++i) {
            const int32_t t = table[i], first = (t >> 16) & 3;
            const int16_t *row = plane + (t & 0xFFFF);
            const int32_t *tp = pairs + first, *ts = singles + first;
            int32_t acc = bias;
            switch (t >> 24) {
            case 3:
                acc = __smlabb(row[2 * pw + 2], ts[2], __smlad(word(row + 2 * pw), tp[2], acc));
                /* fall through */
            case 2:
                acc = __smlabb(row[pw + 2], ts[1], __smlad(word(row + pw), tp[1], acc));
                /* fall through */
            default:
                acc = __smlabb(row[2], ts[0], __smlad(word(row), tp[0], acc));
            }
            *out++ = path == RQ_SLOW ? requant_out(acc, m, s, q.out_zp, q.tflite, q.lo, q.hi)
                                     : rq_apply(acc, r, q, path == RQ_FAST_CLAMP);
        }
    }
}

static void depthwise_small(const int8_t *in, int8_t *out, const hm_conv_params *p, int16_t *plane,
                            requant_plan q)
{
    const int32_t pw = p->w + 2 * p->pad;
    int32_t table[DW_SMALL], oy, ox, n = 0;
    for (oy = 0; oy < p->oh; ++oy) {
        const int32_t y0 = oy * p->stride - p->pad;  /* input row of kernel row 0 */
        const int32_t first = y0 < 0 ? -y0 : 0, end = y0 + 3 > p->h ? p->h - y0 : 3;
        for (ox = 0; ox < p->ow; ++ox)
            table[n++] = ((oy * p->stride + first) * pw + ox * p->stride) | first << 16 | (end - first) << 24;
    }
    if (!q.fast)
        depthwise_small_channels(in, out, p, plane, table, n, RQ_SLOW, q);
    else if (q.clamp)
        depthwise_small_channels(in, out, p, plane, table, n, RQ_FAST_CLAMP, q);
    else
        depthwise_small_channels(in, out, p, plane, table, n, RQ_FAST, q);
}

/* depthwise 3x3 with padding 1 and stride 1 on a 1-row map (the DS-CNN's blocks on small
 * inputs): only the middle kernel row meets the input. The channel's row minus its zero
 * point goes between two zeros; per output one SMLAD over (w3, w4) and one SMLABB. */
__attribute__((always_inline)) static inline void depthwise_1row_channels(const int8_t *in, int8_t *out,
                                                                          const hm_conv_params *p, int16_t *row,
                                                                          int32_t path, requant_plan q)
{
    const int32_t w = p->w, zp = p->in_zp;
    const int8_t *wk = p->weight + 3;
    int32_t c, x;
    row[0] = row[w + 1] = 0;
    for (c = 0; c < p->cin; ++c, wk += 9) {
        const int32_t taps = pack16(wk[0], wk[1]), last = wk[2], bias = p->bias[c], m = MULT(p, c);
        const int32_t s = p->shift[c];
        const rq_channel r = path == RQ_SLOW ? rq_for(1, 33) : rq_for(m, s);
        for (x = 1; x <= w; ++x)
            row[x] = (int16_t)(*in++ - zp);
        for (x = 0; x < w; ++x) {
            const int32_t acc = __smlabb(row[x + 2], last, __smlad(word(row + x), taps, bias));
            *out++ = path == RQ_SLOW ? requant_out(acc, m, s, q.out_zp, q.tflite, q.lo, q.hi)
                                     : rq_apply(acc, r, q, path == RQ_FAST_CLAMP);
        }
    }
}

static void depthwise_1row(const int8_t *in, int8_t *out, const hm_conv_params *p, int16_t *row, requant_plan q)
{
    if (!q.fast)
        depthwise_1row_channels(in, out, p, row, RQ_SLOW, q);
    else if (q.clamp)
        depthwise_1row_channels(in, out, p, row, RQ_FAST_CLAMP, q);
    else
        depthwise_1row_channels(in, out, p, row, RQ_FAST, q);
}

/* bytes 1 and 3 of v sign-extended, plus a's two int16: one SXTAB16 with its rotation */
__attribute__((always_inline)) static inline int32_t sxtab16_ror8(int32_t a, int32_t v)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* Depthwise 3x3, stride 2, padding 1, channel multiplier 1 on a 4x4, 6x6 or 8x8 map (the stride-2
 * stages of small networks), straight from the int8 input: no padded copy of the channel.
 * Output row 0 reads input rows 0 and 1 with kernel rows 1 and 2, output row i > 0 the input
 * rows 2i - 1 to 2i + 1. In a row, a word's E = (x0, x2) and O = (x1, x3) minus the zero point
 * are one SXTAB16 each; with the kernel row's pair (k0, k2) and middle tap k1, output 2j + 1
 * is SMLAD(O, pair) + E.top k1 and output 2j is E.bottom k1 + O.bottom k2 + (the previous
 * word's O).top k0 (nothing left of column 0: padding). */
__attribute__((always_inline)) static inline void dw_s2_row(const int8_t *row, int32_t words, int32_t nzp,
                                                            int32_t pair, int32_t mid, int32_t *acc)
{
    int32_t j, prev = 0;
#pragma GCC unroll 2
    for (j = 0; j < words; ++j, acc += 2) {
        const int32_t v = word(row + 4 * j), e = __sxtab16(nzp, v), o = sxtab16_ror8(nzp, v);
        const int32_t a = __smlabt(o, pair, __smlabb(e, mid, acc[0]));
        acc[0] = j ? __smlatb(prev, pair, a) : a;
        acc[1] = __smlatb(e, mid, __smlad(o, pair, acc[1]));
        prev = o;
    }
}

/* a 6-byte row: the word at byte 0 as above gives outputs 0 and 1, the word at byte 2,
 * (x2, x4) and (x3, x5), output 2 as SMLAD(O, pair) + E.top k1 */
__attribute__((always_inline)) static inline void dw_s2_row6(const int8_t *row, int32_t nzp, int32_t pair,
                                                             int32_t mid, int32_t *acc)
{
    const int32_t v = word(row), e = __sxtab16(nzp, v), o = sxtab16_ror8(nzp, v);
    const int32_t t = word(row + 2), te = __sxtab16(nzp, t), to = sxtab16_ror8(nzp, t);
    acc[0] = __smlabt(o, pair, __smlabb(e, mid, acc[0]));
    acc[1] = __smlatb(e, mid, __smlad(o, pair, acc[1]));
    acc[2] = __smlatb(te, mid, __smlad(to, pair, acc[2]));
}

/* the channels of a stride-2 layer on an n x n map (n 4, 6 or 8, a constant in each copy) */
__attribute__((always_inline)) static inline void depthwise_s2_channels(const int8_t *in, int8_t *out,
                                                                        const hm_conv_params *p, int32_t n,
                                                                        int32_t path, requant_plan q)
{
    const int32_t half = n / 2, nzp = pack16(-p->in_zp, -p->in_zp);
    const int8_t *wk = p->weight;
    int32_t c, oy, k, i;
    for (c = 0; c < p->cin; ++c, in += n * n, wk += 9) {
        const int32_t pairs[3] = {pack16(wk[0], wk[2]), pack16(wk[3], wk[5]), pack16(wk[6], wk[8])};
        const int32_t mids[3] = {wk[1], wk[4], wk[7]};
        const int32_t bias = p->bias[c], m = MULT(p, c), s = p->shift[c];
        const rq_channel r = path == RQ_SLOW ? rq_for(1, 33) : rq_for(m, s);
        for (oy = 0; oy < half; ++oy) {
            int32_t acc[4] = {bias, bias, bias, bias};
            if (n == 6) {
                if (oy)
                    dw_s2_row6(in + (2 * oy - 1) * n, nzp, pairs[0], mids[0], acc);
                dw_s2_row6(in + 2 * oy * n, nzp, pairs[1], mids[1], acc);
                dw_s2_row6(in + (2 * oy + 1) * n, nzp, pairs[2], mids[2], acc);
            } else {
                if (oy)
                    dw_s2_row(in + (2 * oy - 1) * n, n / 4, nzp, pairs[0], mids[0], acc);
#pragma GCC unroll 2
                for (k = 1; k < 3; ++k)
                    dw_s2_row(in + (2 * oy - 1 + k) * n, n / 4, nzp, pairs[k], mids[k], acc);
            }
#pragma GCC unroll 4
            for (i = 0; i < half; ++i)
                *out++ = path == RQ_SLOW ? requant_out(acc[i], m, s, q.out_zp, q.tflite, q.lo, q.hi)
                                         : rq_apply(acc[i], r, q, path == RQ_FAST_CLAMP);
        }
    }
}

__attribute__((noinline)) static void depthwise_s2(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const requant_plan q = plan_requant(p->mult, p->shift, p->cout, p->out_zp, p->tflite, p->act_min, p->act_max);
    const int32_t path = !q.fast ? RQ_SLOW : q.clamp ? RQ_FAST_CLAMP : RQ_FAST;
    if (p->w == 4) {
        if (path == RQ_SLOW)
            depthwise_s2_channels(in, out, p, 4, RQ_SLOW, q);
        else if (path == RQ_FAST_CLAMP)
            depthwise_s2_channels(in, out, p, 4, RQ_FAST_CLAMP, q);
        else
            depthwise_s2_channels(in, out, p, 4, RQ_FAST, q);
    } else if (p->w == 6) {
        if (path == RQ_SLOW)
            depthwise_s2_channels(in, out, p, 6, RQ_SLOW, q);
        else if (path == RQ_FAST_CLAMP)
            depthwise_s2_channels(in, out, p, 6, RQ_FAST_CLAMP, q);
        else
            depthwise_s2_channels(in, out, p, 6, RQ_FAST, q);
    } else if (path == RQ_SLOW) {
        depthwise_s2_channels(in, out, p, 8, RQ_SLOW, q);
    } else if (path == RQ_FAST_CLAMP) {
        depthwise_s2_channels(in, out, p, 8, RQ_FAST_CLAMP, q);
    } else {
        depthwise_s2_channels(in, out, p, 8, RQ_FAST, q);
    }
}

/* bytes 2 and 0 of v sign-extended, plus a's two int16 */
__attribute__((always_inline)) static inline int32_t sxtab16_ror16(int32_t a, int32_t v)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #16" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* Depthwise 3x3, stride 1, padding 1, channel multiplier 1 on a 3x3 map (MobileNetV1-0.25's
 * last stage), straight from the int8 input. A 3-byte row (a, b, c) is the word at its first
 * byte (the last row: at the byte before it, so no read leaves the tensor); two SXTAB16 give
 * E = (a, c) and O, two halfword packs P = (a, b) and Q = (b, c). With the kernel row's pairs
 * (k0, k1) and (k1, k2), output columns 0 and 2 are one SMLAD each, column 1 an SMLAD and an
 * SMLATT: only the taps inside the input. Weights take the same steps with zero point 0.
 * dw3_row returns E and writes (P, Q). */
__attribute__((always_inline)) static inline int32_t dw3_row(const int8_t *row, int32_t last, int32_t nzp, int32_t *pq)
{
    const int32_t v = word(last ? row - 1 : row);
    const int32_t ev = last ? sxtab16_ror8(nzp, v) : __sxtab16(nzp, v);
    const int32_t o = last ? sxtab16_ror16(nzp, v) : sxtab16_ror8(nzp, v);  /* b in the low half */
    pq[0] = (int32_t)(((uint32_t)ev & 0xFFFFu) | (uint32_t)o << 16);
    pq[1] = (int32_t)(((uint32_t)o & 0xFFFFu) | ((uint32_t)ev & 0xFFFF0000u));
    return ev;
}

__attribute__((always_inline)) static inline void depthwise_3x3map_channels(const int8_t *in, int8_t *out,
                                                                            const hm_conv_params *p, int32_t path,
                                                                            requant_plan q)
{
    const int32_t nzp = pack16(-p->in_zp, -p->in_zp);
    const int8_t *wk = p->weight;
    int32_t c, oy, r;
    for (c = 0; c < p->cin; ++c, in += 9, wk += 9) {
        int32_t e[3], x[3][2], w[3][2];  /* x: (P, Q) per input row; w: ((k0, k1), (k1, k2)) */
        const int32_t bias = p->bias[c], m = MULT(p, c), s = p->shift[c];
        const rq_channel rc = path == RQ_SLOW ? rq_for(1, 33) : rq_for(m, s);
#pragma GCC unroll 3
        for (r = 0; r < 3; ++r) {
            e[r] = dw3_row(in + 3 * r, r == 2, nzp, x[r]);
            dw3_row(wk + 3 * r, r == 2, 0, w[r]);
        }
#pragma GCC unroll 3
        for (oy = 0; oy < 3; ++oy) {
            int32_t a0 = bias, a1 = bias, a2 = bias, k;
#pragma GCC unroll 3
            for (k = 0; k < 3; ++k) {
                const int32_t y = oy + k - 1;  /* the input row kernel row k meets */
                if (y < 0 || y > 2)
                    continue;
                a0 = __smlad(x[y][0], w[k][1], a0);
                a1 = __smlatt(e[y], w[k][1], __smlad(x[y][0], w[k][0], a1));
                a2 = __smlad(x[y][1], w[k][0], a2);
            }
            if (path == RQ_SLOW) {
                out[0] = requant_out(a0, m, s, q.out_zp, q.tflite, q.lo, q.hi);
                out[1] = requant_out(a1, m, s, q.out_zp, q.tflite, q.lo, q.hi);
                out[2] = requant_out(a2, m, s, q.out_zp, q.tflite, q.lo, q.hi);
            } else {
                out[0] = rq_apply(a0, rc, q, path == RQ_FAST_CLAMP);
                out[1] = rq_apply(a1, rc, q, path == RQ_FAST_CLAMP);
                out[2] = rq_apply(a2, rc, q, path == RQ_FAST_CLAMP);
            }
            out += 3;
        }
    }
}

__attribute__((noinline)) static void depthwise_3x3map(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const requant_plan q = plan_requant(p->mult, p->shift, p->cout, p->out_zp, p->tflite, p->act_min, p->act_max);
    if (!q.fast)
        depthwise_3x3map_channels(in, out, p, RQ_SLOW, q);
    else if (q.clamp)
        depthwise_3x3map_channels(in, out, p, RQ_FAST_CLAMP, q);
    else
        depthwise_3x3map_channels(in, out, p, RQ_FAST, q);
}

/* depthwise (one input channel per group): the channel, minus its zero point and padded
 * with zeros, as int16; each kernel row then takes SMLADs over pairs of taps */
__attribute__((noinline)) static void depthwise_planes(const int8_t *in, int8_t *out, const hm_conv_params *p)
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
    if (p->h == 1 && p->kh == 3 && p->kw == 3 && p->pad == 1 && p->stride == 1 && mult == 1) {
        depthwise_1row(in, out, p, plane, q);
        return;
    }
    int32_t c, m, y, oy, ox, ky, kx;
    for (y = 0; y < ph * pw; ++y)  /* the padding ring stays 0 for every channel */
        plane[y] = 0;
    if (p->kh == 3 && p->kw == 3 && p->oh * p->ow < DW_SMALL && mult == 1) {
        depthwise_small(in, out, p, plane, q);
        return;
    }
    for (c = 0; c < p->cin; ++c) {
        widen_into_plane(in + c * p->h * p->w, plane, p, pw);
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

/* the stride-2 kernel and the plane kernels in functions of their own: in one function GCC
 * gave the plane kernels' loops fewer registers (2x2, 3x3 and 6x6 maps 1-4 % slower) */
static void depthwise_dsp(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    if ((p->h == 4 || p->h == 6 || p->h == 8) && p->w == p->h && p->kh == 3 && p->kw == 3 && p->pad == 1 && p->stride == 2
        && p->cout == p->cin) {
        depthwise_s2(in, out, p);
        return;
    }
    if (p->h == 3 && p->w == 3 && p->kh == 3 && p->kw == 3 && p->pad == 1 && p->stride == 1 && p->cout == p->cin) {
        depthwise_3x3map(in, out, p);
        return;
    }
    depthwise_planes(in, out, p);
}
#endif /* !HM_NO_DEPTHWISE */

#pragma GCC pop_options
#endif
