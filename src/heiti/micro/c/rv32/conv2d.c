/* conv2d on RV32 (no SIMD, no multiply-accumulate): regular convolutions by register tiling,
 * bit-identical to ../conv2d.c. */
#include "rv32/hm_rv32.h"

#if HM_RV32
#pragma GCC push_options
/* -O2 whatever the build's size optimization, without the first scheduling pass: it hoists
 * the loads of an unrolled step ahead of their uses, past the registers RV32 has (spills) */
#pragma GCC optimize("O2", "no-schedule-insns")

/* The windows of output pixels px .. px + n - 1 (n <= 4; the last one repeated up to four)
 * as four interleaved columns of cin * kh * kw bytes: col[4 k + j] is input k of pixel j's
 * window, the input zero point where the window covers padding (so it adds nothing). */
static void gather4(const int8_t *in, int8_t *col, const hm_conv_params *p, int32_t px, int32_t n)
{
    const int8_t zp = (int8_t)p->in_zp;
    int32_t j, ci, ky, kx;
    for (j = 0; j < 4; ++j) {
        const int32_t q = px + (j < n ? j : n - 1), y0 = q / p->ow * p->stride - p->pad;
        const int32_t x0 = q % p->ow * p->stride - p->pad;
        int8_t *c = col + j;
        for (ci = 0; ci < p->cin; ++ci)
            for (ky = 0; ky < p->kh; ++ky) {
                const int32_t y = y0 + ky, inside = y >= 0 && y < p->h;
                const int8_t *row = in + (ci * p->h + y) * p->w;
                for (kx = 0; kx < p->kw; ++kx, c += 4) {
                    const int32_t x = x0 + kx;
                    *c = inside && x >= 0 && x < p->w ? row[x] : zp;
                }
            }
    }
}

/* pixel j's value at input k times the three rows' weights there (loaded where used: one
 * register for it) */
#define HM_PIXEL(k, j)                                  \
    do {                                                \
        const int32_t x = col[4 * (k) + (j)] - zp;      \
        a##j += wa * x;                                 \
        b##j += wb * x;                                 \
        c##j += wc * x;                                 \
    } while (0)

/* input k of the four pixels */
#define HM_INPUT(k)                                     \
    do {                                                \
        const int32_t wa = w0[k], wb = w1[k], wc = w2[k]; \
        HM_PIXEL(k, 0);                                 \
        HM_PIXEL(k, 1);                                 \
        HM_PIXEL(k, 2);                                 \
        HM_PIXEL(k, 3);                                 \
    } while (0)

/* three output channels (rows w0, w1, w2 of n inputs) by the four gathered pixels, two
 * inputs a step: each loaded byte feeds three or four MACs, the twelve sums in registers */
__attribute__((always_inline)) static inline void tile_3x4(const int8_t *col, const int8_t *w0, const int8_t *w1,
                                                           const int8_t *w2, int32_t n, int32_t zp, int32_t acc[12])
{
    const int8_t *end = col + 4 * (n & ~1);
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    for (; col < end; col += 8, w0 += 2, w1 += 2, w2 += 2) {
        HM_INPUT(0);
        HM_INPUT(1);
    }
    if (n & 1)
        HM_INPUT(0);
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3, acc[4] = b0, acc[5] = b1;
    acc[6] = b2, acc[7] = b3, acc[8] = c0, acc[9] = c1, acc[10] = c2, acc[11] = c3;
}
#undef HM_INPUT
#undef HM_PIXEL

/* a copy without the zero point's subtractions for the symmetric schemes */
__attribute__((noinline)) static void tile_3x4_any(const int8_t *col, const int8_t *w0, const int8_t *w1,
                                                   const int8_t *w2, int32_t n, int32_t zp, int32_t acc[12])
{
    if (zp)
        tile_3x4(col, w0, w1, w2, n, zp, acc);
    else
        tile_3x4(col, w0, w1, w2, n, 0, acc);
}

/* groups 1: four output pixels gathered into the scratch (4 * cin * kh * kw bytes), then
 * three output channels at a time over them (a short last group repeats its last row) */
static void conv_rv32(const int8_t *in, int8_t *out, const hm_conv_params *p)
{
    const int32_t fan = p->cin * p->kh * p->kw, pixels = p->oh * p->ow;
    int8_t *col = (int8_t *)p->scratch;
    int32_t px, co, k, j, acc[12];
    for (px = 0; px < pixels; px += 4) {
        const int32_t np = pixels - px < 4 ? pixels - px : 4;
        gather4(in, col, p, px, np);
        for (co = 0; co < p->cout; co += 3) {
            const int32_t nc = p->cout - co < 3 ? p->cout - co : 3;
            const int8_t *w0 = p->weight + co * fan;
            tile_3x4_any(col, w0, w0 + (nc > 1) * fan, w0 + (nc - 1) * fan, fan, p->in_zp, acc);
            for (k = 0; k < nc; ++k) {
                const int32_t c = co + k, bias = p->bias[c], m = MULT(p, c), s = p->shift[c];
                for (j = 0; j < np; ++j)
                    out[c * pixels + px + j] = requant_rv32(acc[4 * k + j] + bias, m, s, p->out_zp, p->tflite,
                                                            p->act_min, p->act_max);
            }
        }
    }
}

#pragma GCC pop_options
#endif
