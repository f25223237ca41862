/* heiti micro: int8 kernels whose results are defined bit for bit in docs/micro.md.
 * C99, no dynamic memory, no floating point. Tensors are CHW, one sample. */
#ifndef HEITI_MICRO_H
#define HEITI_MICRO_H

#include <stdint.h>

typedef struct {
    int32_t cin, h, w, cout, kh, kw, stride, pad, groups, oh, ow, act_min, act_max;
    const int8_t *weight;  /* [cout][cin/groups][kh][kw] */
    const int32_t *bias, *mult, *shift;  /* one per output channel; mult NULL: all 1 */
} hm_conv_params;

typedef struct {
    int32_t in, out, act_min, act_max;
    const int8_t *weight;  /* [out][in] */
    const int32_t *bias, *mult, *shift;
} hm_dense_params;

typedef struct {
    int32_t c, h, w, kh, kw, stride, oh, ow;
} hm_pool_params;

/* clamp(round_half_away(acc * mult * 2^-shift), lo, hi) */
int32_t hm_requant(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi);

void hm_preprocess(const uint8_t *in, int8_t *out, int32_t channels, int32_t plane,
                   const int32_t *mean, int32_t mult, int32_t shift);
void hm_conv2d(const int8_t *in, int8_t *out, const hm_conv_params *p);
void hm_dense(const int8_t *in, int8_t *out, const hm_dense_params *p);
void hm_maxpool(const int8_t *in, int8_t *out, const hm_pool_params *p);
void hm_avgpool(const int8_t *in, int8_t *out, const hm_pool_params *p);
void hm_add(const int8_t *a, const int8_t *b, int8_t *out, int32_t count, int32_t mult_a,
            int32_t mult_b, int32_t shift, int32_t act_min, int32_t act_max);
void hm_clamp(const int8_t *in, int8_t *out, int32_t count, int32_t act_min, int32_t act_max);
void hm_copy(const int8_t *in, int8_t *out, int32_t count);
/* index of the largest value; ties go to the lowest index */
int32_t hm_argmax(const int8_t *x, int32_t count);

#endif
