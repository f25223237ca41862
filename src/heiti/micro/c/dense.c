/* dense: fully connected layer (heiti_micro.h). */
#include "hm_common.h"

void hm_dense(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    int32_t o, i;
#if HM_DSP
    dense_dsp(in, out, p);
    return;
#endif
    for (o = 0; o < p->out; ++o) {
        const int8_t *row = p->weight + o * p->in;
        int32_t acc = p->bias[o];
        for (i = 0; i < p->in; ++i)
            acc += ((int32_t)in[i] - p->in_zp) * row[i];
        out[o] = requant_out(acc, MULT(p, o), p->shift[o], p->out_zp, p->tflite, p->act_min, p->act_max);
    }
}
