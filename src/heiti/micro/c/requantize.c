/* requantize: TFLite's QUANTIZE between integer grids (heiti_micro.h). */
#include "hm_common.h"

void hm_requantize(const void *in, int8_t *out, int32_t count, int32_t in_unsigned, int32_t in_zp,
                   int32_t mult, int32_t shift, int32_t out_zp, int32_t rounding)
{
    const uint8_t *u = (const uint8_t *)in;
    const int8_t *s = (const int8_t *)in;
    int32_t i;
    for (i = 0; i < count; ++i) {
        const int32_t q = in_unsigned ? (int32_t)u[i] : (int32_t)s[i];
        out[i] = requant_out(q - in_zp, mult, shift, out_zp, rounding, -128, 127);
    }
}
