/* heiti's host-target protocol (docs/protocol.md) on a microcontroller, for a model compiled
 * into the firmware. Static buffers only, no floating point, one session at a time over the
 * board's UART; damaged frames are answered with NAK as on any serial line. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "fault.h"
#include "fw_config.h"
#include "model.h"

enum {
    HELLO = 0x01, AUTH = 0x02, OK = 0x03, ERROR = 0x04, NAK = 0x05, MODEL_BEGIN = 0x10,
    MODEL_CHUNK = 0x11, MODEL_END = 0x12, IOSPEC = 0x13, DATA = 0x20, PROCESS = 0x21,
    PROCESS_STARTED = 0x22, PROCESS_DONE = 0x23, OUTPUT = 0x24, STATS = 0x30, PING = 0x40, BYE = 0x41
};
enum {
    E_BAD_FRAME = 1, E_VERSION = 2, E_CRC = 3, E_TOO_LARGE = 4, E_UNKNOWN_TYPE = 5,
    E_OUT_OF_ORDER = 6, E_REFUSED = 8, E_BAD_INPUT = 10
};
enum { NO_ACK = 0x01, WITH_OUTPUT = 0x02 };
enum { S_HELLO, S_READY, S_UPLOADING };
enum { DT_INT8 = 3, DT_UINT8 = 4 };
#define HEADER 14
#define RETRANSMITS 3

static uint8_t rx[HEADER + FW_MAX_MESSAGE] __attribute__((aligned(4)));
static uint8_t tx[FW_TX_BUFFER] __attribute__((aligned(4)));
static uint32_t tx_len;  /* the last transmission: what a NAK makes us resend */
static uint32_t frame_at;  /* where the frame being built starts in tx */
static uint8_t version = FW_MAX_VERSION;  /* frame version of the current session */

static uint8_t input[HEITI_MODEL_INPUT_SIZE];
static int8_t output[HEITI_MODEL_OUTPUT_SIZE];
static int have_input, have_output;

static const uint32_t input_dims[] = FW_INPUT_DIMS;
static const uint32_t output_ndims[FW_OUTPUTS] = FW_OUTPUT_NDIMS;  /* outputs one after the other */
static const uint32_t output_dims[] = FW_OUTPUT_DIMS;
static const uint32_t output_sizes[FW_OUTPUTS] = FW_OUTPUT_SIZES;

/* what STATS reports */
static uint32_t inferences;
static uint64_t instr_total, instr_min = UINT64_MAX, instr_max;
#if FW_PROFILE
static uint64_t layer_total[HEITI_MODEL_LAYERS], mark_prev;
#endif
extern uint32_t __stack_bottom, __stack_top;
#define STACK_PAINT 0xA5A5A5A5u

/* --- little-endian fields, CRC-32 (zlib) ------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, uint32_t n)
{
    int k;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* --- building and sending frames --------------------------------------------------------- */

static void tx_begin(void)
{
    tx_len = 0;
}

/* start a frame in tx; the payload is written at the returned pointer */
static uint8_t *frame_open(void)
{
    frame_at = tx_len;
    return tx + tx_len + HEADER;
}

static void frame_close(uint8_t type, uint8_t flags, uint32_t length)
{
    uint8_t *h = tx + frame_at;
    h[0] = 'H', h[1] = 'T', h[2] = version, h[3] = type, h[4] = flags, h[5] = 0;
    put_u32(h + 6, length);
    put_u32(h + 10, crc32_update(crc32_update(0, h, 10), h + HEADER, length));
    tx_len = frame_at + HEADER + length;
}

static void tx_flush(void)
{
    board_write(tx, tx_len);
}

/* payload bytes that fit in tx after the frame being opened */
#define TX_ROOM (FW_TX_BUFFER - HEADER - frame_at)

static void send_error(uint16_t code, const char *text);

/* a frame with a copy of `payload`: every copy into tx is bounded by it */
static void send_frame(uint8_t type, const void *payload, uint32_t length)
{
    tx_begin();
    if (length > FW_TX_BUFFER - HEADER) {
        send_error(E_TOO_LARGE, "reply larger than this firmware's transmit buffer");
        return;
    }
    memcpy(frame_open(), payload, length);
    frame_close(type, 0, length);
    tx_flush();
}

static void send_error(uint16_t code, const char *text)
{
    uint8_t *p;
    uint32_t n = (uint32_t)strlen(text);
    tx_begin();
    p = frame_open();
    if (n > TX_ROOM - 2)
        n = TX_ROOM - 2;
    p[0] = (uint8_t)code, p[1] = (uint8_t)(code >> 8);
    memcpy(p + 2, text, n);
    frame_close(ERROR, 0, n + 2);
    tx_flush();
}

/* --- JSON out: text and unsigned integers are all the replies need -------------------------- */

static char *out_end;  /* the end of the buffer being written: put_* never pass it */

static char *put_text(char *out, const char *text)
{
    while (*text && out < out_end)
        *out++ = *text++;
    return out;
}

static char *put_uint(char *out, uint64_t v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n && out < out_end)
        *out++ = digits[--n];
    return out;
}

static char *put_hex(char *out, uint32_t v)
{
    int k;
    out = put_text(out, "0x");
    for (k = 28; k >= 0 && out < out_end; k -= 4)
        *out++ = "0123456789abcdef"[(v >> k) & 15u];
    return out;
}

static char *json_open(void)
{
    tx_begin();
    out_end = (char *)tx + FW_TX_BUFFER;
    return (char *)frame_open();
}

static void send_json(uint8_t type, char *start, char *end)
{
    frame_close(type, 0, (uint32_t)(end - start));
    tx_flush();
}

void fw_fault(const char *what, int count, const char *const names[], const uint32_t values[])
{
    char text[160], *p;
    int i;
    out_end = text + sizeof text - 1;  /* room for the terminating zero */
    p = put_text(text, what);
    for (i = 0; i < count; ++i) {
        p = put_text(put_text(p, i ? ", " : ": "), names[i]);
        p = put_hex(put_text(p, "="), values[i]);
    }
    *p = 0;
    send_error(12, text);  /* INTERNAL */
    board_exit(1);
}

/* --- receiving ------------------------------------------------------------------------------ */

/* wait for a byte at most `limit` instructions (0: forever); 0 on silence */
static int read_byte(uint8_t *byte, uint64_t limit)
{
    const uint64_t start = board_instructions();
    while (!board_read(byte))
        if (board_instructions() - start > limit && limit)
            return 0;
    return 1;
}

static int read_bytes(uint8_t *p, uint32_t n)
{
    while (n--)
        if (!read_byte(p++, FW_BYTE_TIMEOUT))
            return 0;
    return 1;
}

/* a damaged frame: let the rest of it pass, then ask for the last transmission again */
static void drain(void)
{
    uint8_t byte;
    while (read_byte(&byte, FW_QUIET))
        ;
}

/* read one frame into rx; 0 or the protocol error code of a damaged frame */
static int receive(uint32_t *length)
{
    uint8_t *h = rx;
    if (!read_byte(h, 0) || !read_bytes(h + 1, HEADER - 1))
        return E_BAD_FRAME;
    if (h[0] != 'H' || h[1] != 'T')
        return E_BAD_FRAME;
    if (h[2] != 1 && h[2] != FW_MAX_VERSION)
        return E_VERSION;
    *length = get_u32(h + 6);
    if (*length > FW_MAX_MESSAGE)
        return E_TOO_LARGE;
    if (!read_bytes(rx + HEADER, *length))
        return E_BAD_FRAME;
    if (crc32_update(crc32_update(0, h, 10), rx + HEADER, *length) != get_u32(h + 10))
        return E_CRC;
    return 0;
}

/* --- messages ------------------------------------------------------------------------------- */

static const char *find(const uint8_t *p, uint32_t n, const char *what)
{
    const uint32_t m = (uint32_t)strlen(what);
    uint32_t i;
    for (i = 0; i + m <= n; ++i)
        if (!memcmp(p + i, what, m))
            return (const char *)p + i;
    return 0;
}

/* the highest version of the client's "versions" list that this firmware speaks; 0: none */
static int choose_version(const uint8_t *p, uint32_t n)
{
    const char *at = find(p, n, "\"versions\""), *end = (const char *)p + n;
    int best = 0, value = -1;
    if (!at)
        return 0;
    for (at += 10; at < end; ++at) {
        if (*at >= '0' && *at <= '9') {
            value = (value < 0 ? 0 : value * 10) + (*at - '0');
            continue;
        }
        if (value >= 1 && value <= FW_MAX_VERSION && value > best)
            best = value;
        value = -1;
        if (*at == ']')
            break;
    }
    return best;
}

static void hello(void)
{
    char *start = json_open(), *p;
    p = put_text(start, "{\"version\":");
    p = put_uint(p, version);
    p = put_text(p, ",\"server\":\"heiti-firmware " FW_BOARD "\",\"runtimes\":[\"heiti-micro\"],"
                    "\"max_message\":");
    p = put_uint(p, FW_MAX_MESSAGE);
    p = put_text(p, ",\"max_upload\":0,\"auth\":false,\"model_sha256\":\"" FW_MODEL_SHA256
                    "\",\"versions\":" FW_VERSIONS "}");
    send_json(HELLO, start, p);
}

static void stats(void)
{
    char *start = json_open(), *p;
    const uint32_t *w = &__stack_bottom;
    while (w < &__stack_top && *w == STACK_PAINT)
        ++w;
    p = put_text(start, "{\"inferences\":");
    p = put_uint(p, inferences);
    p = put_text(p, ",\"instructions\":{\"total\":");
    p = put_uint(p, instr_total);
    p = put_text(p, ",\"min\":");
    p = put_uint(p, inferences ? instr_min : 0);
    p = put_text(p, ",\"max\":");
    p = put_uint(p, instr_max);
    p = put_text(p, "},\"stack\":{\"size\":");
    p = put_uint(p, (uint32_t)((&__stack_top - &__stack_bottom) * 4));
    p = put_text(p, ",\"high_water\":");
    p = put_uint(p, (uint32_t)((&__stack_top - w) * 4));
    p = put_text(p, "}");
#if FW_PROFILE
    {
        int i;
        p = put_text(p, ",\"layer_instructions\":[");
        for (i = 0; i < HEITI_MODEL_LAYERS; ++i)
            p = put_uint(put_text(p, i ? "," : ""), layer_total[i]);
        p = put_text(p, "]");
    }
#endif
    p = put_text(p, ",\"environment\":{\"board\":\"" FW_BOARD "\",\"machine\":\"" FW_MACHINE
                    "\",\"cpu\":\"" FW_CPU "\",\"clock_hz\":");
    p = put_uint(p, FW_CLOCK_HZ);
    p = put_text(p, ",\"frameworks\":" FW_VERSIONS "}}");
    send_json(STATS, start, p);
}

/* PROCESS_DONE and OUTPUT go out in one transmission (fw_config.h sizes tx for it) */
_Static_assert(FW_TX_BUFFER >= 2 * HEADER + 8 + 4 + FW_OUTPUT_HEADERS + HEITI_MODEL_OUTPUT_SIZE,
               "the transmit buffer cannot hold PROCESS_DONE and OUTPUT");

static uint8_t *put_tensor_header(uint8_t *p, uint8_t dtype, int ndim, const uint32_t *dims)
{
    int i;
    p[0] = dtype, p[1] = (uint8_t)ndim, p[2] = p[3] = 0;
    for (i = 0; i < ndim; ++i)
        put_u32(p + 4 + 4 * i, dims[i]);
    return p + 4 + 4 * ndim;
}

/* OUTPUT: one int8 tensor per model output, each its part of the output buffer */
static void output_frame(void)
{
    uint8_t *start = frame_open(), *p = start;
    const uint32_t *dims = output_dims;
    const int8_t *values = output;
    int k;
    p[0] = FW_OUTPUTS, p[1] = p[2] = p[3] = 0;
    p += 4;
    for (k = 0; k < FW_OUTPUTS; ++k) {
        p = put_tensor_header(p, DT_INT8, (int)output_ndims[k], dims);
        memcpy(p, values, output_sizes[k]);
        p += output_sizes[k], values += output_sizes[k], dims += output_ndims[k];
    }
    frame_close(OUTPUT, 0, (uint32_t)(p - start));
}

#if FW_INPUTS > 1
/* DATA: one tensor per model input, in the IO specification's order (protocol 2), each
 * copied to its part of the input buffer once all are checked (0: accepted) */
static const uint8_t input_dtypes[FW_INPUTS] = FW_INPUT_DTYPES;
static const uint32_t input_ndims[FW_INPUTS] = FW_INPUT_NDIMS;
static const uint32_t input_sizes[FW_INPUTS] = FW_INPUT_SIZES;

static int data(const uint8_t *p, uint32_t n)
{
    uint8_t expected[4 + 4 * 8];  /* one tensor header: at most 8 dimensions */
    const uint32_t *dims = input_dims;
    uint32_t at = 4, header, k;
    int ok = n == 4 + FW_INPUT_HEADERS + HEITI_MODEL_INPUT_SIZE && p[0] == FW_INPUTS && !p[1] && !p[2] && !p[3];
    for (k = 0; ok && k < FW_INPUTS; ++k) {
        header = 4 + 4 * input_ndims[k];
        put_tensor_header(expected, input_dtypes[k], (int)input_ndims[k], dims);
        ok = !memcmp(p + at, expected, header);
        at += header + input_sizes[k], dims += input_ndims[k];
    }
    if (!ok) {
        send_error(E_BAD_INPUT, "DATA must be the tensors " FW_INPUT_SPEC);
        return 1;
    }
    for (k = 0, at = 4, n = 0; k < FW_INPUTS; ++k) {
        at += 4 + 4 * input_ndims[k];
        memcpy(input + n, p + at, input_sizes[k]);
        at += input_sizes[k], n += input_sizes[k];
    }
    have_input = 1;
    return 0;
}
#else
/* DATA: one uint8 tensor of the compiled-in shape (0: accepted) */
static int data(const uint8_t *p, uint32_t n)
{
    uint8_t expected[4 + 4 + 4 * FW_INPUT_NDIM];
    expected[0] = 1, expected[1] = expected[2] = expected[3] = 0;
    put_tensor_header(expected + 4, FW_INPUT_DTYPE, FW_INPUT_NDIM, input_dims);
    if (n != sizeof expected + HEITI_MODEL_INPUT_SIZE || memcmp(p, expected, sizeof expected)) {
        send_error(E_BAD_INPUT, "DATA must be one tensor " FW_INPUT_SPEC);
        return 1;
    }
    memcpy(input, p + sizeof expected, HEITI_MODEL_INPUT_SIZE);
    have_input = 1;
    return 0;
}
#endif

#if FW_PROFILE
void fw_layer_mark(int layer)
{
    const uint64_t now = board_instructions();
    if (layer > 0)
        layer_total[layer - 1] += now - mark_prev;
    mark_prev = now;
}
#endif

static void process(uint8_t flags)
{
    uint64_t start, used;
    uint8_t *p;
    if (!have_input) {
        send_error(E_OUT_OF_ORDER, "PROCESS without accepted DATA");
        return;
    }
    send_frame(PROCESS_STARTED, 0, 0);
    start = board_instructions();
    heiti_model_run(input, output);
    used = board_instructions() - start;
    have_output = 1;
    ++inferences;
    instr_total += used;
    instr_min = used < instr_min ? used : instr_min;
    instr_max = used > instr_max ? used : instr_max;
    /* the time this would take at the nominal clock, at one instruction per cycle */
    tx_begin();
    p = frame_open();
    put_u32(p, (uint32_t)(used * 1000000000u / FW_CLOCK_HZ));
    put_u32(p + 4, (uint32_t)((used * 1000000000u / FW_CLOCK_HZ) >> 32));
    frame_close(PROCESS_DONE, 0, 8);
    if (flags & WITH_OUTPUT)
        output_frame();
    tx_flush();
}

static void model_end(void)
{
    char *start = json_open(), *p;
    p = put_text(start, "{\"runtime\":{\"type\":\"heiti-micro\",\"parameters\":{}},"
                        "\"versions\":" FW_VERSIONS "}");
    send_json(OK, start, p);
}

/* one frame in the current state; returns the next state */
static int dispatch(int state, uint8_t type, uint8_t flags, const uint8_t *p, uint32_t n)
{
    if (state == S_HELLO) {
        if (type != HELLO) {
            send_error(E_OUT_OF_ORDER, "HELLO first");
            return S_HELLO;
        }
        version = (uint8_t)choose_version(p, n);
        if (!version) {
            version = FW_MAX_VERSION;  /* refused in the newest framing, as the host does */
            send_error(E_VERSION, "no common protocol version (this firmware speaks 1.." FW_MAX_VERSION_TEXT ")");
            return S_HELLO;
        }
        hello();
        return S_READY;
    }
    if (state == S_UPLOADING && type != MODEL_CHUNK && type != MODEL_END) {
        send_error(E_OUT_OF_ORDER, "only MODEL_CHUNK and MODEL_END during an upload");
        return S_HELLO;
    }
    switch (type) {
    case MODEL_BEGIN:  /* only the compiled-in model: its bytes are not stored */
        if (!find(p, n, FW_MODEL_SHA256)) {
            send_error(E_REFUSED, "this firmware runs only its compiled-in model (sha256 " FW_MODEL_SHA256 ")");
            return S_READY;
        }
        send_frame(OK, 0, 0);
        return S_UPLOADING;
    case MODEL_CHUNK:
        if (state != S_UPLOADING)
            break;
        send_frame(OK, 0, 0);
        return S_UPLOADING;
    case MODEL_END:
        if (state != S_UPLOADING)
            break;
        model_end();
        return S_READY;
    case IOSPEC:
        send_frame(OK, 0, 0);
        return S_READY;
    case DATA:
        if (!data(p, n) && !(flags & NO_ACK))
            send_frame(OK, 0, 0);
        return S_READY;
    case PROCESS:
        process(flags);
        return S_READY;
    case OUTPUT:
        if (!have_output) {
            send_error(E_OUT_OF_ORDER, "OUTPUT before any PROCESS");
            return S_READY;
        }
        tx_begin();
        output_frame();
        tx_flush();
        return S_READY;
    case STATS:
        stats();
        return S_READY;
    case PING:  /* echoed if the echo fits the transmit buffer, else TOO_LARGE */
        send_frame(OK, p, n);
        return S_READY;
    case BYE:
        send_frame(OK, 0, 0);
        return S_HELLO;
    case HELLO:
    case AUTH:
        break;
    default:
        send_error(E_UNKNOWN_TYPE, "unknown message type");
        return S_HELLO;
    }
    send_error(E_OUT_OF_ORDER, "message not allowed now");
    return S_HELLO;
}

static void paint_stack(void)
{
    uint32_t *w = &__stack_bottom, *const below = (uint32_t *)__builtin_frame_address(0) - 64;
    while (w < below)
        *w++ = STACK_PAINT;
}

int main(void)
{
    int state = S_HELLO, damaged = 0, resent = 0, error;
    uint32_t length = 0;
    board_init();
    paint_stack();
    for (;;) {
        error = receive(&length);
        if (error) {
            drain();
            if (++damaged > RETRANSMITS) {
                send_error(E_CRC, "too many damaged frames");
                damaged = 0, state = S_HELLO;
                continue;
            }
            {
                uint8_t nak[HEADER];
                nak[0] = 'H', nak[1] = 'T', nak[2] = version, nak[3] = NAK, nak[4] = nak[5] = 0;
                put_u32(nak + 6, 0);
                put_u32(nak + 10, crc32_update(0, nak, 10));
                board_write(nak, HEADER);
            }
            continue;
        }
        damaged = 0;
        if (rx[3] == NAK) {
            if (++resent > RETRANSMITS) {
                send_error(E_CRC, "the host keeps rejecting our frames as damaged");
                resent = 0, state = S_HELLO;
            } else {
                tx_flush();
            }
            continue;
        }
        resent = 0;
        state = dispatch(state, rx[3], rx[4], rx + HEADER, length);
    }
}
