/* heiti micro: helpers of the RV32 kernels, put once into the generated heiti_micro.c
 * before the RV32 kernel files. */
#ifndef HM_RV32_H
#define HM_RV32_H

#include "hm_common.h"

#if HM_RV32
/* requant_out without its calls and 64-bit arithmetic in the power-of-two scheme (multiplier
 * 1, shift below 31, |acc| below 2^30: then acc + h - [acc < 0] fits 32 bits, and GCC's
 * arithmetic right shift is the floor round_shift takes) and without calls in heiti's other
 * common case (shift from 33 on) */
__attribute__((always_inline)) static inline int8_t requant_rv32(int32_t acc, int32_t mult, int32_t shift,
                                                                 int32_t out_zp, int32_t tflite, int32_t lo,
                                                                 int32_t hi)
{
    if (!tflite && mult == 1 && shift > 0 && shift < 31 && (uint32_t)acc + (1u << 30) < (1u << 31))
        return (int8_t)clamp32((acc + (1 << (shift - 1)) - (acc < 0)) >> shift, lo, hi);
    if (!tflite && shift >= 33)
        return (int8_t)round_shift_high((int64_t)acc * mult, shift, lo, hi);
    return requant_out(acc, mult, shift, out_zp, tflite, lo, hi);
}
#endif

#endif
