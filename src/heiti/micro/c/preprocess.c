/* preprocess: raw uint8 input (int8 for signed data), minus the mean, to int8 (heiti_micro.h). */
#include "hm_common.h"

/* the loop for either input type: the same arithmetic on the raw integers */
#define HM_PREPROCESS_LOOP                                                                          \
    int32_t c, i;                                                                                   \
    for (c = 0; c < channels; ++c)                                                                  \
        for (i = 0; i < plane; ++i, ++in, ++out)                                                    \
            *out = (int8_t)clamp32(hm_requant((int32_t)*in - mean[c], mult, shift, INT32_MIN, INT32_MAX) + zp, \
                                   -128, 127);

void hm_preprocess_zp(const uint8_t *in, int8_t *out, int32_t channels, int32_t plane,
                      const int32_t *mean, int32_t mult, int32_t shift, int32_t zp)
{
    HM_PREPROCESS_LOOP
}

void hm_preprocess(const uint8_t *in, int8_t *out, int32_t channels, int32_t plane,
                   const int32_t *mean, int32_t mult, int32_t shift)
{
    hm_preprocess_zp(in, out, channels, plane, mean, mult, shift, 0);
}

void hm_preprocess_int8(const int8_t *in, int8_t *out, int32_t channels, int32_t plane,
                        const int32_t *mean, int32_t mult, int32_t shift, int32_t zp)
{
    HM_PREPROCESS_LOOP
}
