/* heiti micro: static helpers every kernel file uses (micro-c puts them once at the top of
 * the generated heiti_micro.c). Semantics: heiti_micro.h and docs/micro.md. */
#ifndef HM_COMMON_H
#define HM_COMMON_H

#include "heiti_micro.h"

/* a helper a model's operators may not need: no -Wunused-function for it */
#if defined(__GNUC__)
#define HM_UNUSED __attribute__((unused))
#else
#define HM_UNUSED
#endif

/* power-of-two models store no multipliers (NULL): requantization is a shift */
#define MULT(p, i) ((p)->mult ? (p)->mult[i] : 1)

/* Rounding half away from zero, on the magnitude: right shifts of negative numbers
 * are implementation-defined in C, and the golden model rounds the same way. */
static HM_UNUSED int32_t round_shift(int64_t p, int32_t shift, int32_t lo, int32_t hi)
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

/* floor(p / 2^s) without right-shifting a negative number */
static HM_UNUSED int64_t floor_shift(int64_t p, int32_t s)
{
    return p >= 0 ? p >> s : -((-p - 1) >> s) - 1;
}

static HM_UNUSED int32_t clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* an accumulator to the output int8, in the operator's scheme */
static HM_UNUSED int8_t requant_out(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp, int32_t tflite,
                          int32_t lo, int32_t hi)
{
    if (!tflite)
        return (int8_t)hm_requant(acc, mult, shift, lo, hi);
    return (int8_t)clamp32(clamp32(hm_tflite_multiply(acc, mult, shift, tflite) + out_zp, -128, 127), lo, hi);
}

#endif
