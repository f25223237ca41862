/* clamp: clamp (a ReLU on its own) (heiti_micro.h). */
#include "hm_common.h"

void hm_clamp(const int8_t *in, int8_t *out, int32_t count, int32_t act_min, int32_t act_max)
{
    int32_t i;
    for (i = 0; i < count; ++i)
        out[i] = (int8_t)(in[i] < act_min ? act_min : (in[i] > act_max ? act_max : in[i]));
}
