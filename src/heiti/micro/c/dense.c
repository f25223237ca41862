/* dense: fully connected layer (heiti_micro.h). */
#include "hm_common.h"

void hm_dense(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    int32_t o, i;
#if HM_DSP
    dense_dsp(in, out, p);
    return;
#endif
#if HM_RV32
    dense_rv32(in, out, p);
    return;
#endif
    for (o = 0; o < p->out; o += 4) {  /* four rows share each input value */
        const int32_t n = p->out - o < 4 ? p->out - o : 4, zp = p->in_zp;
        const int8_t *r0 = p->weight + o * p->in, *r1 = r0 + (n > 1) * p->in;
        const int8_t *r2 = r0 + (n > 2 ? 2 : n - 1) * p->in, *r3 = r0 + (n - 1) * p->in;
        int32_t a[4] = {0, 0, 0, 0}, k;
        for (i = 0; i < p->in; ++i) {
            const int32_t v = (int32_t)in[i] - zp;
            a[0] += v * r0[i];
            a[1] += v * r1[i];
            a[2] += v * r2[i];
            a[3] += v * r3[i];
        }
        for (k = 0; k < n; ++k)
            out[o + k] = requant_out(a[k] + p->bias[o + k], MULT(p, o + k), p->shift[o + k], p->out_zp,
                                     p->tflite, p->act_min, p->act_max);
    }
}
