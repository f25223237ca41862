/* resize_nearest: TFLite's RESIZE_NEAREST_NEIGHBOR, a copy through index tables (heiti_micro.h). */
#include "hm_common.h"

void hm_resize_nearest(const int8_t *in, int8_t *out, int32_t channels, int32_t plane, int32_t w, int32_t oh,
                       int32_t ow, const int32_t *rows, const int32_t *cols)
{
    int32_t c, y, x;
    for (c = 0; c < channels; ++c, in += plane)
        for (y = 0; y < oh; ++y) {
            const int8_t *row = in + rows[y] * w;
            for (x = 0; x < ow; ++x)
                *out++ = row[cols[x]];
        }
}
