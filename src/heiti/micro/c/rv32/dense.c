/* dense on RV32: four rows per pass over the input, bit-identical to ../dense.c. */
#include "rv32/hm_rv32.h"

#if HM_RV32
#pragma GCC push_options
/* -O2 whatever the build's size optimization, without the first scheduling pass: it hoists
 * the loads of an unrolled step ahead of their uses, past the registers RV32 has (spills) */
#pragma GCC optimize("O2", "no-schedule-insns")

/* an input value (minus the zero point) times the four rows' weights at offset k */
#define HM_INPUT(v, k)           \
    do {                         \
        const int32_t x = (v);   \
        a0 += x * r0[k];         \
        a1 += x * r1[k];         \
        a2 += x * r2[k];         \
        a3 += x * r3[k];         \
    } while (0)

/* rows r0..r3 . (in - zp) over n inputs: four inputs a step, so that each row pointer moves
 * once per four loads (eight rows spilled on RV32) */
__attribute__((always_inline)) static inline void dot_4(const int8_t *in, const int8_t *r0, const int8_t *r1,
                                                        const int8_t *r2, const int8_t *r3, int32_t n, int32_t zp,
                                                        int32_t acc[4])
{
    const int8_t *end = in + (n & ~3), *last = in + n;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (; in < end; in += 4, r0 += 4, r1 += 4, r2 += 4, r3 += 4) {
        HM_INPUT(in[0] - zp, 0);
        HM_INPUT(in[1] - zp, 1);
        HM_INPUT(in[2] - zp, 2);
        HM_INPUT(in[3] - zp, 3);
    }
    for (; in < last; ++in, ++r0, ++r1, ++r2, ++r3)
        HM_INPUT(*in - zp, 0);
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}
#undef HM_INPUT

/* a copy without the zero point's subtractions for the symmetric schemes */
__attribute__((noinline)) static void dot_4_any(const int8_t *in, const int8_t *r0, const int8_t *r1,
                                                const int8_t *r2, const int8_t *r3, int32_t n, int32_t zp,
                                                int32_t acc[4])
{
    if (zp)
        dot_4(in, r0, r1, r2, r3, n, zp, acc);
    else
        dot_4(in, r0, r1, r2, r3, n, 0, acc);
}

/* four rows at a time; a short last group repeats its last row */
static void dense_rv32(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    int32_t o, k, acc[4];
    for (o = 0; o < p->out; o += 4) {
        const int32_t n = p->out - o < 4 ? p->out - o : 4;
        const int8_t *r0 = p->weight + o * p->in, *r1 = r0 + (n > 1) * p->in;
        dot_4_any(in, r0, r1, r0 + (n > 2 ? 2 : n - 1) * p->in, r0 + (n - 1) * p->in, p->in, p->in_zp, acc);
        for (k = 0; k < n; ++k)
            out[o + k] = requant_rv32(acc[k] + p->bias[o + k], MULT(p, o + k), p->shift[o + k], p->out_zp,
                                      p->tflite, p->act_min, p->act_max);
    }
}

#pragma GCC pop_options
#endif
