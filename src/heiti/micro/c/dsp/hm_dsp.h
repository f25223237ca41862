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
 * one-multiply path below (the tflite schemes with a total right shift from 33 to 62 and
 * multipliers >= 0, as TFLite's converter produces for scales below 2^-2). */
typedef struct {
    int32_t fast, dbl, out_zp, tflite, lo, hi;
} requant_plan;

static HM_UNUSED requant_plan plan_requant(const int32_t *mult, const int32_t *shift, int32_t count, int32_t out_zp,
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

/* acc[r] += row r . column 0 over n, for two weight rows and an interleaved column. The
 * loop is assembly (GCC's took 19 instructions per 8 MACs): per four inputs, two weight
 * words, two input words, four SXTB16 and four SMLAD. */
static HM_UNUSED void dot_2x1(const int8_t *w0, const int8_t *w1, const int16_t *x, int32_t n, int32_t acc[2])
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
            "ldr %[p], [%[x]], #16\n\t"
            "ldr %[q], [%[x], #-8]\n\t"
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
            : [d] "r"(d), [end] "r"(end)
            : "cc", "memory");
        w1 += i;
    }
    for (; i < n; ++i, ++w0, ++w1) {
        const int32_t p = x[IL(i & 3)];
        a0 += *w0 * p;
        a1 += *w1 * p;
    }
    acc[0] = a0, acc[1] = a1;
}
#pragma GCC pop_options
#endif

#endif
