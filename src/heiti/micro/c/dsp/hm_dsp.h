/* heiti micro: helpers of the DSP-extension kernels (Cortex-M4/M7: SMLAD, SXTB16), put once
 * into the generated heiti_micro.c before the DSP kernel files. */
#ifndef HM_DSP_H
#define HM_DSP_H

#include "hm_common.h"

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
static HM_UNUSED int32_t sxtb16_ror8(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* the high word of (hi:lo) + a * b: one SMLAL (GCC sometimes builds a 64x64 product) */
__attribute__((always_inline)) static inline int32_t smlal_high(uint32_t lo, int32_t hi, int32_t a, int32_t b)
{
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return hi;
}

/* A layer's requantization, checked once per layer: `fast` when every channel takes the
 * one-multiply path below (the tflite schemes with a total right shift from 33 to 62,
 * multipliers >= 0 and activation bounds inside int8, as TFLite's converter produces for
 * scales below 2^-2); `clamp` when the bounds are narrower than int8 (then the clamp alone
 * saturates, else SSAT alone). */
typedef struct {
    int32_t fast, dbl, out_zp, tflite, lo, hi, clamp;
} requant_plan;

static HM_UNUSED requant_plan plan_requant(const int32_t *mult, const int32_t *shift, int32_t count, int32_t out_zp,
                                 int32_t tflite, int32_t lo, int32_t hi)
{
    requant_plan q = {tflite != 0 && mult != 0 && lo >= -128 && hi <= 127 && lo <= hi,
                      tflite == HM_TFLITE ? -1 : 0, out_zp, tflite, lo, hi, lo > -128 || hi < 127};
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
/* one channel's constants of the one-SMLAL path: the multiplier, the 2^(s-1) rounding term's
 * high word and the final shift */
typedef struct {
    int32_t mult, round_hi, right;
} rq_channel;

__attribute__((always_inline)) static inline rq_channel rq_for(int32_t mult, int32_t shift)
{
    const rq_channel c = {mult, 1 << (shift - 33), shift - 32};
    return c;
}

__attribute__((always_inline)) static inline int8_t rq_apply(int32_t acc, rq_channel c, requant_plan q, int32_t clamp)
{
    const int32_t neg = (acc >> 31) & q.dbl;  /* GCC's signed right shift is arithmetic */
    const uint32_t lo = ((uint32_t)q.dbl & 0x40000000u) | (uint32_t)neg << 31;
    const int32_t r = (smlal_high(lo, c.round_hi + neg, acc, c.mult) >> c.right) + q.out_zp;
    return (int8_t)(clamp ? clamp32(r, q.lo, q.hi) : __ssat(r, 8));
}

__attribute__((always_inline)) static inline int8_t requant_dsp(int32_t acc, int32_t mult, int32_t shift,
                                                                int32_t fast, requant_plan q)
{
    if (fast)  /* a constant in each specialized copy of the loops: q.fast */
        return q.clamp ? rq_apply(acc, rq_for(mult, shift), q, 1) : rq_apply(acc, rq_for(mult, shift), q, 0);
    return requant_out(acc, mult, shift, q.out_zp, q.tflite, q.lo, q.hi);
}

/* out[c * step + j] = requant(acc[j * stride + c]) for `count` channels (mult, shift from
 * channel 0) and `cols` (1 or 2) columns: the requantization of accumulators the dot products
 * stored, in a loop of its own (in one loop with the dot products GCC kept none of its
 * values in registers). One specialized copy per path and column count. */
enum { RQ_SLOW, RQ_FAST, RQ_FAST_CLAMP };

__attribute__((always_inline)) static inline void requant_columns(const int32_t *acc, int32_t stride, int8_t *out,
                                                                  int32_t count, int32_t step, const int32_t *mult,
                                                                  const int32_t *shift, int32_t cols, int32_t path,
                                                                  requant_plan q)
{
    const int32_t *end = acc + count;
    for (; acc < end; ++acc, ++shift, out += step) {
        if (path == RQ_SLOW) {
            const int32_t m = mult ? *mult++ : 1;
            out[0] = (int8_t)requant_out(acc[0], m, *shift, q.out_zp, q.tflite, q.lo, q.hi);
            if (cols == 2)
                out[1] = (int8_t)requant_out(acc[stride], m, *shift, q.out_zp, q.tflite, q.lo, q.hi);
            continue;
        }
        {
            const rq_channel r = rq_for(*mult++, *shift);
            out[0] = rq_apply(acc[0], r, q, path == RQ_FAST_CLAMP);
            if (cols == 2)
                out[1] = rq_apply(acc[stride], r, q, path == RQ_FAST_CLAMP);
        }
    }
}

static HM_UNUSED void requant_block(const int32_t *acc, int32_t stride, int8_t *out, int32_t count, int32_t step,
                                    const int32_t *mult, const int32_t *shift, int32_t cols, requant_plan q)
{
    if (!q.fast)
        requant_columns(acc, stride, out, count, step, mult, shift, cols, RQ_SLOW, q);
    else if (cols == 1 && q.clamp)
        requant_columns(acc, stride, out, count, step, mult, shift, 1, RQ_FAST_CLAMP, q);
    else if (cols == 1)
        requant_columns(acc, stride, out, count, step, mult, shift, 1, RQ_FAST, q);
    else if (q.clamp)
        requant_columns(acc, stride, out, count, step, mult, shift, 2, RQ_FAST_CLAMP, q);
    else
        requant_columns(acc, stride, out, count, step, mult, shift, 2, RQ_FAST, q);
}

/* the scratch from its first word boundary (LDRD needs one; every scratch size has room) */
__attribute__((always_inline)) static inline int16_t *scratch_words(int16_t *scratch)
{
    return (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
}

/* Gathered inputs are interleaved by pairs, so one pointer walks both columns: element k of
 * column c is at IL(k) + 2 c, i.e. the words (c0 k, k+1), (c1 k, k+1), (c0 k+2, k+3), ... */
#define IL(k) (2 * (k) - ((k) & 1))

/* acc[r] += row r . column 0 over n, for two weight rows and a column that is interleaved
 * (`contiguous` 0: words (k, k+1) and (k+2, k+3) 8 bytes apart) or contiguous (1), a
 * constant. The loop is assembly (GCC's took 19 instructions per 8 MACs): per four inputs, two weight words,
 * two input words, four SXTB16 and four SMLAD. */
__attribute__((always_inline)) static inline void dot_2x1(const int8_t *w0, const int8_t *w1, const int16_t *x,
                                                          int32_t n, int32_t acc[2], int32_t contiguous)
{
    int32_t a0 = acc[0], a1 = acc[1], i = n & ~3;
    if (i) {
        const int8_t *end = w0 + i;
        const int32_t d = (int32_t)(w1 - w0);
        int32_t v, u, p, q, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[u], [%[wp], %[d]]\n\t"
            "ldr %[v], [%[wp]], #4\n\t"
            "ldr %[p], [%[x]], %[step]\n\t"
            "ldr %[q], [%[x], %[back]]\n\t"
            "sxtb16 %[t], %[v]\n\t"
            "smlad %[a0], %[t], %[p], %[a0]\n\t"
            "sxtb16 %[t], %[u]\n\t"
            "smlad %[a1], %[t], %[p], %[a1]\n\t"
            "sxtb16 %[t], %[v], ror #8\n\t"
            "smlad %[a0], %[t], %[q], %[a0]\n\t"
            "sxtb16 %[t], %[u], ror #8\n\t"
            "smlad %[a1], %[t], %[q], %[a1]\n\t"
            "cmp %[wp], %[end]\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [x] "+r"(x), [wp] "+r"(w0), [v] "=&r"(v), [u] "=&r"(u),
              [p] "=&r"(p), [q] "=&r"(q), [t] "=&r"(t)
            : [d] "r"(d), [end] "r"(end), [step] "n"(contiguous ? 8 : 16), [back] "n"(contiguous ? -4 : -8)
            : "cc", "memory");
        w1 += i;
    }
    for (; i < n; ++i, ++w0, ++w1) {
        const int32_t p = x[contiguous ? (i & 3) : IL(i & 3)];
        a0 += *w0 * p;
        a1 += *w1 * p;
    }
    acc[0] = a0, acc[1] = a1;
}
#pragma GCC pop_options
#endif

#endif
