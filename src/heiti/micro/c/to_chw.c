/* to_chw: NHWC samples to CHW (heiti_micro.h). */
#include "hm_common.h"

void hm_to_chw(const int8_t *in, int8_t *out, int32_t plane, int32_t channels)
{
    int32_t c, i;
    for (c = 0; c < channels; ++c)
        for (i = 0; i < plane; ++i)
            *out++ = in[i * channels + c];
}
