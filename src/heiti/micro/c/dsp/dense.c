/* dense with the DSP extension (bit-identical to ../dense.c). */
#include "dsp/hm_dsp.h"

#if HM_DSP
#pragma GCC push_options
#pragma GCC optimize("O2")

/* acc[r] += row r . x over n, for the four weight rows w0, w0 + d, w2, w2 + d and a contiguous
 * int16 column (word aligned). Assembly: per four inputs one LDRD of inputs, four weight
 * words, eight SXTB16 and eight SMLAD; a weight word's two SXTB16 forms are its pairs (w0, w1)
 * and (w2, w3) in micro-c's weight order. Eight inputs per loop, entered in its middle
 * when the groups of four are odd. */
#define HM_DOT_4X1_GROUP                     \
    "ldrd %[p], %[q], [%[x]], #8\n\t"        \
    "ldr %[w], [%[wp], %[d]]\n\t"            \
    "sxtb16 %[t], %[w]\n\t"                  \
    "smlad %[a1], %[t], %[p], %[a1]\n\t"     \
    "sxtb16 %[t], %[w], ror #8\n\t"          \
    "smlad %[a1], %[t], %[q], %[a1]\n\t"     \
    "ldr %[w], [%[wp]], #4\n\t"              \
    "sxtb16 %[t], %[w]\n\t"                  \
    "smlad %[a0], %[t], %[p], %[a0]\n\t"     \
    "sxtb16 %[t], %[w], ror #8\n\t"          \
    "smlad %[a0], %[t], %[q], %[a0]\n\t"     \
    "ldr %[w], [%[w2], %[d]]\n\t"            \
    "sxtb16 %[t], %[w]\n\t"                  \
    "smlad %[a3], %[t], %[p], %[a3]\n\t"     \
    "sxtb16 %[t], %[w], ror #8\n\t"          \
    "smlad %[a3], %[t], %[q], %[a3]\n\t"     \
    "ldr %[w], [%[w2]], #4\n\t"              \
    "sxtb16 %[t], %[w]\n\t"                  \
    "smlad %[a2], %[t], %[p], %[a2]\n\t"     \
    "sxtb16 %[t], %[w], ror #8\n\t"          \
    "smlad %[a2], %[t], %[q], %[a2]\n\t"

static void dot_4x1(const int8_t *w0, const int8_t *w2, int32_t d, const int16_t *x, int32_t n, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i = n & ~3, k;
    if (i) {
        const int8_t *end = w0 + i;
        int32_t w, p, q, t = i & 4;
        __asm__ volatile(
            "cmp %[t], #0\n\t"
            "bne 2f\n"
            "1:\n\t" HM_DOT_4X1_GROUP
            "2:\n\t" HM_DOT_4X1_GROUP
            "cmp %[wp], %[end]\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [wp] "+r"(w0),
              [w2] "+r"(w2), [w] "=&r"(w), [p] "=&r"(p), [q] "=&r"(q), [t] "+&r"(t)
            : [d] "r"(d), [end] "r"(end)
            : "cc", "memory");
    }
    for (k = 0; i < n; ++i, ++k) {  /* the last n % 4 inputs: w0, w2 and x are past the words */
        const int32_t v = x[k];
        a0 += w0[k] * v;
        a1 += w0[k + d] * v;
        a2 += w2[k] * v;
        a3 += w2[k + d] * v;
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* in minus its zero point as contiguous int16, four values per word: SXTAB16 subtracts the
 * zero point from two lanes at once, PKHBT/PKHTB put the lanes back in order */
static void widen_row(const int8_t *in, int16_t *x, int32_t n, int32_t zp)
{
    const int32_t neg_zp = (int32_t)((uint32_t)(uint16_t)-zp * 0x10001u);
    int32_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        const int32_t v = word(in + i), even = __sxtab16(neg_zp, v);  /* (x0, x2) */
        int32_t odd;  /* (x1, x3) */
        __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(odd) : "r"(neg_zp), "r"(v));
        const uint32_t x01 = ((uint32_t)even & 0xFFFFu) | (uint32_t)odd << 16;  /* PKHBT */
        const uint32_t x23 = (uint32_t)even >> 16 | ((uint32_t)odd & 0xFFFF0000u);  /* PKHTB */
        __builtin_memcpy(x + i, &x01, 4);
        __builtin_memcpy(x + i + 2, &x23, 4);
    }
    for (; i < n; ++i)
        x[i] = (int16_t)(in[i] - zp);
}

/* acc[r] += row r . (in - zp) over n for the two weight rows w0 and w0 + d, straight from the
 * int8 input (the path for one or two outputs, where widening the input would cost more than
 * the dot products). Assembly: per four inputs one input word, SXTAB16 subtracting the zero
 * point from its even and odd bytes, PKHBT/PKHTB to the pairs (x0, x1) and (x2, x3) that
 * micro-c's weight order pairs with, then two weight words, four SXTB16 and four SMLAD.
 * Thirty-two inputs per loop (fewer counter instructions per MAC), entered at the group that
 * leaves a whole number of loops. */
#define HM_DOT_2X1_BYTES_GROUP               \
    "ldr %[p], [%[x]], #4\n\t"               \
    "ldr %[u], [%[wp], %[d]]\n\t"            \
    "ldr %[v], [%[wp]], #4\n\t"              \
    "sxtab16 %[q], %[z], %[p], ror #8\n\t"   \
    "sxtab16 %[p], %[z], %[p]\n\t"           \
    "pkhbt %[t], %[p], %[q], lsl #16\n\t"    \
    "pkhtb %[q], %[q], %[p], asr #16\n\t"    \
    "sxtb16 %[p], %[v]\n\t"                  \
    "smlad %[a0], %[p], %[t], %[a0]\n\t"     \
    "sxtb16 %[p], %[u]\n\t"                  \
    "smlad %[a1], %[p], %[t], %[a1]\n\t"     \
    "sxtb16 %[p], %[v], ror #8\n\t"          \
    "smlad %[a0], %[p], %[q], %[a0]\n\t"     \
    "sxtb16 %[p], %[u], ror #8\n\t"          \
    "smlad %[a1], %[p], %[q], %[a1]\n\t"

static void dot_2x1_bytes(const int8_t *w0, int32_t d, const int8_t *x, int32_t zp, int32_t n, int32_t acc[2])
{
    int32_t a0 = acc[0], a1 = acc[1], i = n & ~3, k;
    if (i) {
        const int8_t *end = w0 + i;
        const int32_t neg_zp = (int32_t)((uint32_t)(uint16_t)-zp * 0x10001u);
        int32_t v, u, p, q, t = (8 - (i >> 2)) & 7;  /* the group to enter at */
        __asm__ volatile(
            "cmp %[t], #0\n\t"
            "beq 20f\n\t"
            "cmp %[t], #4\n\t"
            "bhs 10f\n\t"
            "cmp %[t], #2\n\t"
            "bhi 23f\n\t"
            "beq 22f\n\t"
            "b 21f\n"
            "10:\n\t"
            "cmp %[t], #6\n\t"
            "bhi 27f\n\t"
            "beq 26f\n\t"
            "cmp %[t], #5\n\t"
            "beq 25f\n\t"
            "b 24f\n"
            "20:\n\t" HM_DOT_2X1_BYTES_GROUP
            "21:\n\t" HM_DOT_2X1_BYTES_GROUP
            "22:\n\t" HM_DOT_2X1_BYTES_GROUP
            "23:\n\t" HM_DOT_2X1_BYTES_GROUP
            "24:\n\t" HM_DOT_2X1_BYTES_GROUP
            "25:\n\t" HM_DOT_2X1_BYTES_GROUP
            "26:\n\t" HM_DOT_2X1_BYTES_GROUP
            "27:\n\t" HM_DOT_2X1_BYTES_GROUP
            "cmp %[wp], %[end]\n\t"
            "bne 20b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [x] "+r"(x), [wp] "+r"(w0), [v] "=&r"(v), [u] "=&r"(u),
              [p] "=&r"(p), [q] "=&r"(q), [t] "+&r"(t)
            : [d] "r"(d), [end] "r"(end), [z] "r"(neg_zp)
            : "cc", "memory");
    }
    for (k = 0; i < n; ++i, ++k) {  /* the last n % 4 inputs: w0 and x are past the words */
        const int32_t v = x[k] - zp;
        a0 += w0[k] * v;
        a1 += w0[k + d] * v;
    }
    acc[0] = a0, acc[1] = a1;
}

/* one or two outputs: one pass over the int8 input, no widening (a single row is read twice) */
static void dense_few(const int8_t *in, int8_t *out, const hm_dense_params *p, requant_plan q)
{
    const int32_t last = p->out - 1;
    int32_t acc[2] = {p->bias[0], p->bias[last]};
    dot_2x1_bytes(p->weight, last * p->in, in, p->in_zp, p->in, acc);
    requant_block(acc, 0, out, p->out, 1, p->mult, p->shift, 1, q);
}

/* outputs in chunks of DENSE_CHUNK: four rows per pass over the input (a last group of three
 * as the rows (o + 1, o, o + 2, o + 1), of one or two by the two-row loop), then the chunk's
 * requantization */
enum { DENSE_CHUNK = 64 };

static void dense_dsp(const int8_t *in, int8_t *out, const hm_dense_params *p)
{
    const requant_plan q = plan_requant(p->mult, p->shift, p->out, p->out_zp, p->tflite, p->act_min, p->act_max);
    int16_t *x = scratch_words(p->scratch);
    const int32_t n = p->in;
    int32_t acc[DENSE_CHUNK], o0, k;
    if (p->out <= 2) {
        dense_few(in, out, p, q);
        return;
    }
    widen_row(in, x, n, p->in_zp);
    for (o0 = 0; o0 < p->out; o0 += DENSE_CHUNK) {
        const int32_t count = p->out - o0 < DENSE_CHUNK ? p->out - o0 : DENSE_CHUNK;
        const int32_t *bias = p->bias + o0;
        const int8_t *w = p->weight + o0 * n;
        for (k = 0; k + 4 <= count; k += 4, w += 4 * n) {
            int32_t *a = acc + k;
            a[0] = bias[k], a[1] = bias[k + 1], a[2] = bias[k + 2], a[3] = bias[k + 3];
            dot_4x1(w, w + 2 * n, n, x, n, a);
        }
        if (count - k == 3) {
            int32_t t[4] = {bias[k + 1], bias[k], bias[k + 2], bias[k + 1]};
            dot_4x1(w + n, w + 2 * n, -n, x, n, t);
            acc[k] = t[1], acc[k + 1] = t[0], acc[k + 2] = t[2];
        } else if (count > k) {
            const int32_t last = count - k - 1;
            int32_t t[2] = {bias[k], bias[k + last]};
            dot_2x1(w, w + last * n, x, n, t, 1);
            acc[k] = t[0], acc[k + last] = t[1];
        }
        requant_block(acc, 0, out + o0, count, 1, p->mult ? p->mult + o0 : 0, p->shift + o0, 1, q);
    }
}
#pragma GCC pop_options
#endif
