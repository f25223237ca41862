/* concat: TFLite's CONCATENATION, a copy per input (heiti_micro.h). */
#include "hm_common.h"

void hm_concat(const int8_t *in, int8_t *out, int32_t outer, int32_t block, int32_t stride)
{
    int32_t k;
    for (k = 0; k < outer; ++k, in += block, out += stride)
        hm_copy(in, out, block);
}
