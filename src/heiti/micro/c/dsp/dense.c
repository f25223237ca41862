/* dense with the DSP extension (bit-identical to ../dense.c). */
#include "dsp/hm_dsp.h"

#if HM_DSP
#pragma GCC push_options
#pragma GCC optimize("O2")

static void dense_dsp(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    const requant_plan q = plan_requant(p->mult, p->shift, p->out, p->out_zp, p->tflite, p->act_min, p->act_max);
    int16_t *x = p->scratch;
    int32_t i, o;
    const int32_t zp2 = (int32_t)((uint32_t)(uint16_t)p->in_zp * 0x10001u);
    for (i = 0; i + 4 <= p->in; i += 4) {  /* as an interleaved column, four values per word */
        const int32_t v = word(in + i), even = __ssub16(__sxtb16(v), zp2);  /* (x0, x2) */
        const int32_t odd = __ssub16(sxtb16_ror8(v), zp2);                  /* (x1, x3) */
        const uint32_t x01 = ((uint32_t)even & 0xFFFFu) | (uint32_t)odd << 16;
        const uint32_t x23 = (uint32_t)even >> 16 | ((uint32_t)odd & 0xFFFF0000u);
        __builtin_memcpy(x + IL(i), &x01, 4);
        __builtin_memcpy(x + IL(i + 2), &x23, 4);
    }
    for (; i < p->in; ++i)
        x[IL(i)] = (int16_t)(in[i] - p->in_zp);
    for (o = 0; o < p->out; o += 2) {
        const int32_t next = o + 1 < p->out ? o + 1 : o;
        int32_t acc[2];
        acc[0] = p->bias[o];
        acc[1] = p->bias[next];
        dot_2x1(p->weight + o * p->in, p->weight + next * p->in, x, p->in, acc);
        out[o] = requant_dsp(acc[0], MULT(p, o), p->shift[o], q.fast, q);
        out[next] = requant_dsp(acc[1], MULT(p, next), p->shift[next], q.fast, q);
    }
}
#pragma GCC pop_options
#endif
