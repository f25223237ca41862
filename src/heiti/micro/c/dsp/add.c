/* add with the DSP extension: TFLite's ADD in 32-bit arithmetic (bit-identical to ../add.c). */
#include "dsp/hm_dsp.h"

#if HM_DSP
#pragma GCC push_options
#pragma GCC optimize("O2")

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
#pragma GCC pop_options
#endif
