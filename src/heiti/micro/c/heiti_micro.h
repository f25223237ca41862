/* heiti micro: int8 kernels whose results are defined bit for bit in docs/micro.md.
 * C99, no dynamic memory, no floating point. Tensors are CHW, one sample. */
#ifndef HEITI_MICRO_H
#define HEITI_MICRO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DSP-extension kernels (Cortex-M4/M7: SMLAD, SXTB16) when the board's -mcpu has them,
 * bit-identical to the portable loops; -DHM_PORTABLE_KERNELS keeps the portable ones.
 * They need a scratch buffer of HM_SCRATCH(n) int16 (model.c declares it; 1 when unused). */
#if defined(__ARM_FEATURE_DSP) && !defined(HM_PORTABLE_KERNELS)
#define HM_DSP 1
#else
#define HM_DSP 0
#endif
/* RV32 kernels (rv32/: register tiling, no SIMD needed) on 32-bit RISC-V, bit-identical too;
 * they use the same scratch */
#if defined(__riscv) && __riscv_xlen == 32 && !defined(HM_PORTABLE_KERNELS)
#define HM_RV32 1
#else
#define HM_RV32 0
#endif
#if HM_DSP || HM_RV32
#define HM_SCRATCH(n) (n)
#else
#define HM_SCRATCH(n) 1
#endif

/* requantization: heiti's (pow2, per-channel), TFLite's MultiplyByQuantizedMultiplier
 * (double rounding, TFLM's default build) or with TFLITE_SINGLE_ROUNDING */
enum { HM_HEITI = 0, HM_TFLITE = 1, HM_TFLITE_SINGLE = 2 };

/* The fields after the pointers are the tflite schemes': zero points and the rounding;
 * zero they give the pow2/per-channel semantics. */
typedef struct {
    int32_t cin, h, w, cout, kh, kw, stride, pad, groups, oh, ow, act_min, act_max;
    const int8_t *weight;  /* [cout][cin/groups][kh][kw] */
    const int32_t *bias, *mult, *shift;  /* one per output channel; mult NULL: all 1 */
    int32_t in_zp, out_zp, tflite;
    int16_t *scratch;  /* DSP kernels: 2 * cin * kh * kw + 2 (groups 1), (h + 2 pad) * (w + 2 pad) (depthwise) */
} hm_conv_params;

typedef struct {
    int32_t in, out, act_min, act_max;
    const int8_t *weight;  /* [out][in] */
    const int32_t *bias, *mult, *shift;
    int32_t in_zp, out_zp, tflite;
    int16_t *scratch;  /* DSP kernels: 2 * in */
} hm_dense_params;

/* weights as packed indices into int8 palettes (micro-c's weight_storage: palette): row r's
 * `row_len` indices of `bits` bits (1, 2 or 4) start at byte r * ceil(row_len * bits / 8),
 * lowest bits first, and index palette + r * row_step (row_step 0: one palette) */
typedef struct {
    const uint8_t *index;
    const int8_t *palette;
    int32_t rows, row_len, bits, row_step;
} hm_palette;

/* average pooling modes: rounding half away from zero (heiti), the same then clamped
 * (TFLite AVERAGE_POOL_2D), requantization to its own scale (TFLite MEAN, ONNX) */
enum { HM_POOL_HEITI = 0, HM_POOL_ROUND = 1, HM_POOL_REQUANT = 2, HM_POOL_QDQ = 3 };

typedef struct {
    int32_t c, h, w, kh, kw, stride, oh, ow;
    int32_t mode, act_min, act_max, in_zp, out_zp, mult, shift, tflite;  /* mode 0: no clamp */
} hm_pool_params;

/* TFLite's ADD: inputs minus their zero points, times 2^left_shift, rescaled by
 * mult[0..1]/shift[0..1], summed, rescaled by mult[2]/shift[2], plus out_zp, clamped */
typedef struct {
    int32_t count, a_zp, b_zp, out_zp, left_shift, act_min, act_max;
    int32_t mult[3], shift[3], tflite;
} hm_add_params;

/* two operands broadcast over an output of dims[0] x dims[1] x dims[2] (CHW, or 1 x 1 x n):
 * element (c, y, x) of an operand is at c * stride[0] + y * stride[1] + x * stride[2], the
 * stride 0 along the dimensions it repeats */
typedef struct {
    int32_t dims[3], a_stride[3], b_stride[3];
} hm_broadcast;

/* TFLite's MUL: clamp(out_zp + MultiplyByQuantizedMultiplier((a - a_zp) * (b - b_zp), mult, 31 - shift)) */
typedef struct {
    int32_t a_zp, b_zp, out_zp, mult, shift, act_min, act_max, tflite;
} hm_mul_params;

/* clamp(round_half_away(acc * mult * 2^-shift), lo, hi) */
int32_t hm_requant(int32_t acc, int32_t mult, int32_t shift, int32_t lo, int32_t hi);
/* TFLite's MultiplyByQuantizedMultiplier(acc, mult, 31 - shift): HM_TFLITE or HM_TFLITE_SINGLE */
int32_t hm_tflite_multiply(int32_t acc, int32_t mult, int32_t shift, int32_t rounding);

void hm_preprocess(const uint8_t *in, int8_t *out, int32_t channels, int32_t plane,
                   const int32_t *mean, int32_t mult, int32_t shift);
/* the same with an output zero point: clamp(zp + round_half_away(...), -128, 127) */
void hm_preprocess_zp(const uint8_t *in, int8_t *out, int32_t channels, int32_t plane,
                      const int32_t *mean, int32_t mult, int32_t shift, int32_t zp);
/* the same for signed data: a raw int8 input */
void hm_preprocess_int8(const int8_t *in, int8_t *out, int32_t channels, int32_t plane,
                        const int32_t *mean, int32_t mult, int32_t shift, int32_t zp);
void hm_conv2d(const int8_t *in, int8_t *out, const hm_conv_params *p);
/* the same with kernel taps `dilation` pixels apart (portable loops, weights in their own order) */
void hm_conv2d_dilated(const int8_t *in, int8_t *out, const hm_conv_params *p, int32_t dilation);
/* the same with stride 1 and padding and input sizes multiples of d, as d x d undilated
 * convolutions p (the phase's sizes) on gathered phases: phase_in cin*h*w, phase_out cout*oh*ow */
void hm_conv2d_phases(const int8_t *in, int8_t *out, const hm_conv_params *p, int32_t d, int8_t *phase_in,
                      int8_t *phase_out);
void hm_dense(const int8_t *in, int8_t *out, const hm_dense_params *p);
void hm_maxpool(const int8_t *in, int8_t *out, const hm_pool_params *p);
void hm_avgpool(const int8_t *in, int8_t *out, const hm_pool_params *p);
/* ONNX Runtime's QDQ average pooling: the mean of q - in_zp to the output grid (mult 0: the
 * same scale), one rounding half to even, plus out_zp, clamped */
void hm_avgpool_qdq(const int8_t *in, int8_t *out, const hm_pool_params *p);
void hm_add(const int8_t *a, const int8_t *b, int8_t *out, int32_t count, int32_t mult_a,
            int32_t mult_b, int32_t shift, int32_t act_min, int32_t act_max);
void hm_add_tflite(const int8_t *a, const int8_t *b, int8_t *out, const hm_add_params *p);
/* the same with broadcasting (p->count unused) */
void hm_add_tflite_broadcast(const int8_t *a, const int8_t *b, int8_t *out, const hm_add_params *p,
                             const hm_broadcast *s);
void hm_mul(const int8_t *a, const int8_t *b, int8_t *out, const hm_mul_params *p, const hm_broadcast *s);
void hm_clamp(const int8_t *in, int8_t *out, int32_t count, int32_t act_min, int32_t act_max);
/* TFLite's QUANTIZE: clamp(out_zp + MultiplyByQuantizedMultiplier(q - in_zp, mult, 31 - shift)),
 * q read as uint8 (a model input) or int8 */
void hm_requantize(const void *in, int8_t *out, int32_t count, int32_t in_unsigned, int32_t in_zp,
                   int32_t mult, int32_t shift, int32_t out_zp, int32_t rounding);
/* TFLite's int8 softmax (output scale 1/256, zero point -128) of a vector of `count` */
void hm_softmax(const int8_t *in, int8_t *out, int32_t count, int32_t mult, int32_t left_shift,
                int32_t diff_min);
/* TFLite's int8 LOGISTIC (output scale 1/256, zero point -128): the input minus in_zp times
 * mult * 2^-shift in Q4.27 (HM_TFLITE or HM_TFLITE_SINGLE), saturated beyond +-radius */
void hm_logistic(const int8_t *in, int8_t *out, int32_t count, int32_t in_zp, int32_t mult, int32_t shift,
                 int32_t radius, int32_t rounding);
/* TFLite's int8 TANH (output scale 1/128, zero point 0): q - in_zp beyond +-radius saturates,
 * else MultiplyByQuantizedMultiplier(q - in_zp, mult, 31 - shift) is gemmlowp's tanh input in Q4.27 */
void hm_tanh(const int8_t *in, int8_t *out, int32_t count, int32_t in_zp, int32_t mult, int32_t shift,
             int32_t radius, int32_t rounding);
/* TFLite's int8 HARD_SWISH: 16-bit multipliers (Q0.15) and TFLite's exponents of the output
 * rescaling and of the "reluish" factor relu6(x + 3) / 6 */
typedef struct {
    int32_t count, in_zp, out_zp, out_mult, out_exp, relu_mult, relu_exp;
} hm_hard_swish_params;
void hm_hard_swish(const int8_t *in, int8_t *out, const hm_hard_swish_params *p);
/* NHWC samples (plane = h * w pixels of `channels` values) to CHW */
void hm_to_chw(const int8_t *in, int8_t *out, int32_t plane, int32_t channels);
/* rows first .. first + rows - 1 of a palette-stored layer's int8 weights into out
 * (rows * row_len bytes, word-aligned) */
void hm_unpalette(const hm_palette *p, int32_t first, int32_t rows, int8_t *out);
/* hm_conv2d and hm_dense of a palette-stored layer (p->weight unused): `chunk` output
 * channels at a time decoded into scratch (chunk * row_len bytes; grouped convolutions
 * decode all their channels at once), bit-identical to the kernel on the int8 weights */
void hm_conv2d_palette(const int8_t *in, int8_t *out, const hm_conv_params *p, const hm_palette *w,
                       int8_t *scratch, int32_t chunk);
void hm_dense_palette(const int8_t *in, int8_t *out, const hm_dense_params *p, const hm_palette *w,
                      int8_t *scratch, int32_t chunk);
void hm_copy(const int8_t *in, int8_t *out, int32_t count);
/* each of `channels` planes of h x w framed by top, bottom, left and right values `value` */
void hm_pad(const int8_t *in, int8_t *out, int32_t channels, int32_t h, int32_t w, int32_t top, int32_t bottom,
            int32_t left, int32_t right, int32_t value);
/* one input of a CONCATENATION: `outer` blocks of `block` values, `stride` apart in out */
void hm_concat(const int8_t *in, int8_t *out, int32_t outer, int32_t block, int32_t stride);
/* nearest-neighbour resizing of `channels` planes of h x w (plane = h * w) to oh x ow: output
 * (y, x) copies input (rows[y], cols[x]) */
void hm_resize_nearest(const int8_t *in, int8_t *out, int32_t channels, int32_t plane, int32_t w, int32_t oh,
                       int32_t ow, const int32_t *rows, const int32_t *cols);
/* index of the largest value; ties go to the lowest index */
int32_t hm_argmax(const int8_t *x, int32_t count);

#ifdef __cplusplus
}
#endif

#endif
