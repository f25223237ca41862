/* palette: weights stored as packed indices into a few int8 values, decoded chunk by chunk
 * of output channels into arena scratch for the unchanged kernels (heiti_micro.h). */
#include "hm_common.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HM_PAIRS 1
#else
#define HM_PAIRS 0
#endif

typedef struct {
    const hm_palette *p;
    int32_t stream;  /* one 4-bit palette and rows of even length: the indices form one stream */
    uint16_t pairs[256];  /* stream: the two weights of each index byte, first in the low byte */
} palette_decoder;

static void palette_init(palette_decoder *d, const hm_palette *p)
{
    int32_t b;
    d->p = p;
    d->stream = HM_PAIRS && p->bits == 4 && !p->row_step && !(p->row_len & 1);
    if (d->stream)
        for (b = 0; b < 256; ++b)
            d->pairs[b] = (uint16_t)((uint8_t)p->palette[b & 15] | (uint8_t)p->palette[b >> 4] << 8);
}

/* rows first .. first + rows - 1 into out (word-aligned: arena scratch) */
static void palette_rows(const palette_decoder *d, int32_t first, int32_t rows, int8_t *out)
{
    const hm_palette *p = d->p;
    const int32_t row_bytes = (p->row_len * p->bits + 7) / 8, per_byte = 8 / p->bits;
    const int32_t mask = (1 << p->bits) - 1;
    const uint8_t *index = p->index + first * row_bytes;
    int32_t r, j;
    if (d->stream) {  /* two index bytes to one word store: about two instructions per weight */
        const int32_t bytes = rows * row_bytes;
        const uint8_t *end = index + (bytes & ~1);
        int32_t *word = (int32_t *)(void *)out;
        while (index < end) {
            *word++ = (int32_t)(d->pairs[index[0]] | (uint32_t)d->pairs[index[1]] << 16);
            index += 2;
        }
        if (bytes & 1) {
            out[2 * bytes - 2] = (int8_t)(d->pairs[*index] & 0xFF);
            out[2 * bytes - 1] = (int8_t)(d->pairs[*index] >> 8);
        }
        return;
    }
    for (r = first; r < first + rows; ++r, index += row_bytes) {
        const int8_t *values = p->palette + r * p->row_step;
        if (p->bits == 4) {  /* two weights per byte */
            const uint8_t *b = index, *end = index + p->row_len / 2;
            while (b < end) {
                const uint32_t v = *b++;
                out[0] = values[v & 15];
                out[1] = values[v >> 4];
                out += 2;
            }
            if (p->row_len & 1)
                *out++ = values[*b & 15];
            continue;
        }
        for (j = 0; j < p->row_len; ++j)
            *out++ = values[(index[j / per_byte] >> ((j % per_byte) * p->bits)) & mask];
    }
}

void hm_unpalette(const hm_palette *p, int32_t first, int32_t rows, int8_t *out)
{
    palette_decoder d;
    palette_init(&d, p);
    palette_rows(&d, first, rows, out);
}

void hm_conv2d_palette(const int8_t *in, int8_t *out, const hm_conv_params *p, const hm_palette *w,
                       int8_t *scratch, int32_t chunk)
{
    const int32_t plane = p->oh * p->ow;
    hm_conv_params q = *p;
    palette_decoder d;
    int32_t c0;
    palette_init(&d, w);
    if (p->groups != 1)  /* grouped: one chunk, the channel groups stay whole */
        chunk = p->cout;
    for (c0 = 0; c0 < p->cout; c0 += chunk) {
        q.cout = p->cout - c0 < chunk ? p->cout - c0 : chunk;
        palette_rows(&d, c0, q.cout, scratch);
        q.weight = scratch;
        q.bias = p->bias + c0;
        q.mult = p->mult ? p->mult + c0 : 0;  /* 0: all 1 */
        q.shift = p->shift + c0;
        hm_conv2d(in, out + c0 * plane, &q);
    }
}

void hm_dense_palette(const int8_t *in, int8_t *out, const hm_dense_params *p, const hm_palette *w,
                      int8_t *scratch, int32_t chunk)
{
    hm_dense_params q = *p;
    palette_decoder d;
    int32_t o;
    palette_init(&d, w);
    for (o = 0; o < p->out; o += chunk) {
        q.out = p->out - o < chunk ? p->out - o : chunk;
        palette_rows(&d, o, q.out, scratch);
        q.weight = scratch;
        q.bias = p->bias + o;
        q.mult = p->mult ? p->mult + o : 0;
        q.shift = p->shift + o;
        hm_dense(in, out + o, &q);
    }
}
