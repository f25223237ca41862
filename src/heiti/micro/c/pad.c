/* pad: a constant frame around each plane (heiti_micro.h). */
#include "hm_common.h"

void hm_pad(const int8_t *in, int8_t *out, int32_t channels, int32_t h, int32_t w, int32_t top, int32_t bottom,
            int32_t left, int32_t right, int32_t value)
{
    const int32_t ow = w + left + right;
    int32_t c, y, x;
    for (c = 0; c < channels; ++c) {
        for (x = 0; x < top * ow; ++x)
            *out++ = (int8_t)value;
        for (y = 0; y < h; ++y, in += w) {
            for (x = 0; x < left; ++x)
                *out++ = (int8_t)value;
            hm_copy(in, out, w);
            out += w;
            for (x = 0; x < right; ++x)
                *out++ = (int8_t)value;
        }
        for (x = 0; x < bottom * ow; ++x)
            *out++ = (int8_t)value;
    }
}
