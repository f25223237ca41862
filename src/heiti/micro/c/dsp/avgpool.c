/* average pooling with the DSP extension: window sums by words (bit-identical to ../avgpool.c). */
#include "dsp/hm_dsp.h"

#if HM_DSP
#pragma GCC push_options
#pragma GCC optimize("O2")

/* the sum of n int8 values: four per word into two int16 lanes pairs (SXTAB16), at most 1020
 * values so that no lane overflows */
__attribute__((always_inline)) static inline int32_t sum_dsp(const int8_t *x, int32_t n)
{
    int32_t even = 0, odd = 0, sum, i;
    for (i = 0; i + 4 <= n; i += 4) {
        const int32_t v = word(x + i);
        even = __sxtab16(even, v);
        __asm__("sxtab16 %0, %0, %1, ror #8" : "+r"(odd) : "r"(v));  /* bytes 1 and 3 */
    }
    even = __sadd16(even, odd);
    sum = (int16_t)even + (even >> 16);
    for (; i < n; ++i)
        sum += x[i];
    return sum;
}

/* one output of average pooling from its window's sum, as hm_avgpool computes it */
__attribute__((always_inline)) static inline int8_t average(int32_t sum, int32_t count, int32_t mode,
                                                            const hm_pool_params *p, requant_plan q)
{
    int32_t mag;
    if (mode == HM_POOL_REQUANT)
        return requant_dsp(sum - count * p->in_zp, p->mult, p->shift, q.fast, q);
    mag = ((sum < 0 ? -sum : sum) + count / 2) / count;  /* half away from zero */
    mag = sum < 0 ? -mag : mag;
    return (int8_t)(mode ? clamp32(mag, q.lo, q.hi) : mag);
}

__attribute__((always_inline)) static inline void avgpool_rows(const int8_t *in, int8_t *out,
                                                               const hm_pool_params *p, requant_plan q,
                                                               int32_t mode)
{
    const int32_t count = p->kh * p->kw, plane = p->h * p->w, step = p->stride * p->w;
    const int8_t *end = in + p->c * plane;
    int32_t oy;
    if (p->oh == 1) {  /* global pooling: one window per channel */
        for (; in < end; in += plane)
            *out++ = average(sum_dsp(in, count), count, mode, p, q);
        return;
    }
    for (; in < end; in += plane)
        for (oy = 0; oy < p->oh; ++oy)
            *out++ = average(sum_dsp(in + oy * step, count), count, mode, p, q);
}

/* global pooling over three or four values per channel (1x3, 2x2 maps): the sum without a
 * loop; `count` and `mode` are constants in each copy */
__attribute__((always_inline)) static inline void avgpool_few(const int8_t *in, int8_t *out,
                                                              const hm_pool_params *p, requant_plan q,
                                                              int32_t mode, int32_t count)
{
    const int8_t *end = in + p->c * count;
    for (; in < end; in += count)
        *out++ = average(in[0] + in[1] + in[2] + (count > 3 ? in[3] : 0), count, mode, p, q);
}

__attribute__((always_inline)) static inline void avgpool_few_modes(const int8_t *in, int8_t *out,
                                                                    const hm_pool_params *p, requant_plan q,
                                                                    int32_t count)
{
    if (p->mode == HM_POOL_REQUANT)
        avgpool_few(in, out, p, q, HM_POOL_REQUANT, count);
    else if (p->mode == HM_POOL_ROUND)
        avgpool_few(in, out, p, q, HM_POOL_ROUND, count);
    else
        avgpool_few(in, out, p, q, HM_POOL_HEITI, count);
}

/* average pooling whose windows are whole rows (kw == w: the window is kh * w contiguous
 * values, as in global average pooling) summed by words; the same rounding as hm_avgpool */
static int32_t avgpool_dsp(const int8_t *in, int8_t *out, const hm_pool_params *p)
{
    const requant_plan q = plan_requant(&p->mult, &p->shift, 1, p->out_zp, p->tflite, p->act_min, p->act_max);
    if (p->kw != p->w || p->ow != 1 || p->kh * p->kw > 1020)
        return 0;
    if (p->kh == p->h && p->oh == 1 && (p->kh * p->kw == 3 || p->kh * p->kw == 4)) {
        if (p->kh * p->kw == 3)
            avgpool_few_modes(in, out, p, q, 3);
        else
            avgpool_few_modes(in, out, p, q, 4);
        return 1;
    }
    if (p->mode == HM_POOL_REQUANT)
        avgpool_rows(in, out, p, q, HM_POOL_REQUANT);
    else if (p->mode == HM_POOL_ROUND)
        avgpool_rows(in, out, p, q, HM_POOL_ROUND);
    else
        avgpool_rows(in, out, p, q, HM_POOL_HEITI);
    return 1;
}
#pragma GCC pop_options
#endif
