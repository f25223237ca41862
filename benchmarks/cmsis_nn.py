"""heiti micro's kernels side by side with Arm's CMSIS-NN on the emulated Cortex-M4.

One firmware for mps2-an386 (QEMU, ``-icount shift=0``) holds both kernel libraries and,
for every layer, the same seeded int8 data and TFLite requantization parameters (per-channel
multipliers and shifts, zero points). Each layer runs through heiti's kernel and through
CMSIS-NN's (the wrapper TensorFlow Lite Micro calls), the outputs are checked equal element
by element (heiti's tensors are CHW, CMSIS-NN's HWC), and the instructions of each call are
counted the same way for both (SysTick, 40 instructions per tick, calls repeated so the
resolution is below 1 %). heiti's kernels are compiled as heiti's firmware compiles them;
CMSIS-NN with ``-Ofast -DARM_MATH_DSP``, as its own build recommends.

Layers: every distinct layer of heiti's MobileNetV2-style network and DS-CNN (on 8x8 and on
the MLPerf Tiny 49x10 input) and of the MLPerf-Tiny-shaped models of tests/test_micro_mlperf.py
(MobileNetV1-0.25 on 96x96x3, ResNet-8 on 32x32x3 with its residual adds, the FC autoencoder
on 640, the first two with their int8 softmax), weighted by how often each network uses it,
plus single rows for the shapes where the two libraries differ most.

    python benchmarks/cmsis_nn.py --cmsis-nn PATH/TO/CMSIS-NN

CMSIS-NN's source is not part of heiti: pass a checkout of https://github.com/ARM-software/CMSIS-NN.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from _common import print_table
from heiti import boards
from heiti.boards.build import FLAGS, STARTUP, linker_script
from heiti.boards.qemu import qemu_command
from heiti.micro.codegen import dsp_order, library_source

BOARD = "mps2-an386"
CMSIS_FLAGS = ["-Ofast", "-DARM_MATH_DSP", "-ffunction-sections", "-fdata-sections", "-w"]
CMSIS_FOLDERS = ("ConvolutionFunctions", "NNSupportFunctions", "FullyConnectedFunctions",
                 "BasicMathFunctions", "PoolingFunctions", "SoftmaxFunctions")
TARGET_INSTRUCTIONS = 200_000  # per layer and library: SysTick's 40-instruction step is < 0.1 %
HM_TFLITE = 1
HM_POOL_ROUND = 1


@dataclass(frozen=True)
class Layer:
    """One layer's shape. ``kind``: conv (groups 1 or depthwise), dense, add, avgpool or softmax."""

    kind: str
    c: int  # input channels (dense: input features; add: elements)
    h: int = 1
    w: int = 1
    cout: int = 1
    kh: int = 1
    kw: int = 1
    stride: int = 1
    pad: int = 0
    groups: int = 1

    @property
    def oh(self) -> int:
        return (self.h + 2 * self.pad - self.kh) // self.stride + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.pad - self.kw) // self.stride + 1

    @property
    def work(self) -> int:
        """MACs (conv, dense) or output elements (add, avgpool, softmax): what the ratio is per."""
        if self.kind == "conv":
            return self.oh * self.ow * self.cout * (self.c // self.groups) * self.kh * self.kw
        if self.kind == "dense":
            return self.c * self.cout
        if self.kind == "avgpool":
            return self.c * self.oh * self.ow
        return self.c

    @property
    def label(self) -> str:
        if self.kind == "conv":
            what = (f"depthwise {self.kh}x{self.kw} x{self.c}" if self.groups > 1
                    else f"{self.kh}x{self.kw} {self.c}->{self.cout}")
            step = f" /{self.stride}" if self.stride > 1 else ""
            return f"conv {what} on {self.h}x{self.w}{step}"
        if self.kind == "dense":
            return f"dense {self.c}->{self.cout}"
        if self.kind == "avgpool":
            return f"avgpool {self.kh}x{self.kw} x{self.c} on {self.h}x{self.w}"
        if self.kind == "softmax":
            return f"softmax of {self.c} values"
        return f"add {self.c} elements"


@dataclass
class Network:
    name: str
    layers: dict[Layer, int] = field(default_factory=dict)  # layer -> uses per inference


def network_layers(zoo, input_shape: tuple[int, int, int], classes: int) -> dict[Layer, int]:
    """The distinct conv/dense/add/avgpool layers of a zoo network, as heiti micro sees it."""
    import torch

    from heiti.micro.from_torch import from_torch

    torch.manual_seed(0)
    graph = from_torch(zoo.build(input_shape, classes).eval(), input_shape, 1 / 16)
    uses: dict[Layer, int] = {}
    for op in graph.ops:
        shape = graph.tensors[op.inputs[0]].shape
        if op.kind == "conv2d":
            cout, _, kh, kw = op.arrays["weight"].shape
            layer = Layer("conv", shape[0], shape[1], shape[2], cout, kh, kw, op.attrs["stride"],
                          op.attrs["pad"], op.attrs["groups"])
        elif op.kind == "dense":
            layer = Layer("dense", int(np.prod(shape)), cout=op.arrays["weight"].shape[0])
        elif op.kind == "add":
            layer = Layer("add", int(np.prod(shape)))
        elif op.kind == "avgpool":
            layer = Layer("avgpool", shape[0], shape[1], shape[2], kh=op.attrs["kh"], kw=op.attrs["kw"],
                          stride=op.attrs["stride"])
        else:
            continue
        uses[layer] = uses.get(layer, 0) + 1
    return uses


def _count(layers: list[Layer]) -> dict[Layer, int]:
    uses: dict[Layer, int] = {}
    for layer in layers:
        uses[layer] = uses.get(layer, 0) + 1
    return uses


# the MLPerf-Tiny-shaped models of tests/test_micro_mlperf.py (built there with litert-torch),
# as heiti micro runs them after micro-import-tflite: the distinct layer shapes
def mobilenet_v1_layers() -> dict[Layer, int]:
    """MobileNetV1-0.25 on 96x96x3: a 3x3 stride-2 stem, 13 separable blocks, 2 classes."""
    widths = [8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256]
    strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    layers, side = [Layer("conv", 3, 96, 96, 8, 3, 3, 2, 1)], 48
    for i, stride in enumerate(strides):
        cin = widths[i]
        depthwise = Layer("conv", cin, side, side, cin, 3, 3, stride, 1, cin)
        side = depthwise.oh
        layers += [depthwise, Layer("conv", cin, side, side, widths[i + 1])]
    layers += [Layer("avgpool", 256, side, side, kh=side, kw=side, stride=side),
               Layer("dense", 256, cout=2), Layer("softmax", 2)]
    return _count(layers)


def resnet8_layers() -> dict[Layer, int]:
    """ResNet-8 on 32x32x3: three residual stacks (16, 32, 64 channels), 10 classes."""
    layers, side, cin = [Layer("conv", 3, 32, 32, 16, 3, 3, 1, 1)], 32, 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        first = Layer("conv", cin, side, side, cout, 3, 3, stride, 1)
        layers += [first, Layer("conv", cout, first.oh, first.ow, cout, 3, 3, 1, 1)]
        if stride != 1 or cin != cout:
            layers.append(Layer("conv", cin, side, side, cout, 1, 1, stride))
        side, cin = first.oh, cout
        layers.append(Layer("add", cout * side * side))
    layers += [Layer("avgpool", 64, side, side, kh=side, kw=side, stride=side),
               Layer("dense", 64, cout=10), Layer("softmax", 10)]
    return _count(layers)


def autoencoder_layers() -> dict[Layer, int]:
    """The fully connected autoencoder on 640 values: 640 -> 128 x4 -> 8 -> 128 x4 -> 640."""
    sizes = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    return _count([Layer("dense", a, cout=b) for a, b in zip(sizes, sizes[1:], strict=False)])


# the shapes round two measured apart (docs/benchmarks.md), one use each
SINGLE_LAYERS = [
    Layer("conv", 1, 8, 8, 16, 3, 3, 1, 1), Layer("conv", 16, 8, 8, 8), Layer("conv", 48, 4, 4, 16),
    Layer("conv", 32, 2, 2, 192), Layer("conv", 160, 2, 2, 256),
    Layer("conv", 96, 2, 2, 96, 3, 3, 1, 1, 96), Layer("conv", 480, 2, 2, 480, 3, 3, 1, 1, 480),
    Layer("conv", 64, 1, 3, 64, 3, 3, 1, 1, 64), Layer("conv", 96, 4, 4, 96, 3, 3, 2, 1, 96),
    Layer("dense", 256, cout=10), Layer("dense", 64, cout=10), Layer("add", 1024),
    Layer("avgpool", 64, 4, 4, kh=4, kw=4, stride=4),
    Layer("softmax", 10), Layer("softmax", 12),  # classifier heads (ResNet-8, DS-CNN's 12 keywords)
]
SOFTMAX_INPUT_SCALE = 0.1  # logits' scale; beta 1, as TFLite's converter writes SOFTMAX


def _array(name: str, ctype: str, values: np.ndarray) -> str:
    flat = ", ".join(str(int(v)) for v in np.asarray(values).ravel())
    size = max(1, np.asarray(values).size)
    return f"static const {ctype} {name}[{size}] __attribute__((aligned(4))) = {{{flat}}};\n"


def _tflite_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: (multiplier in [2^30, 2^31), left shift)."""
    mantissa, exponent = math.frexp(real)
    mult = int(round(mantissa * 2**31))
    if mult == 2**31:
        mult, exponent = mult // 2, exponent + 1
    return mult, exponent


def _layer_code(i: int, layer: Layer, rng: np.random.Generator) -> tuple[str, str, int]:
    """(data definitions, the block in main(), output bytes) for layer ``i``."""
    reps = max(1, min(200, TARGET_INSTRUCTIONS // (3 * layer.work)))
    data, p = "", f"l{i}_"
    x = rng.integers(-128, 128, (layer.c, layer.h, layer.w), dtype=np.int64)
    in_zp, out_zp = int(rng.integers(-20, 20)), int(rng.integers(-20, 20))
    if layer.kind in ("conv", "dense"):
        fan_in = (layer.c // layer.groups) * layer.kh * layer.kw
        n_out = layer.cout
        w = rng.integers(-127, 128, (n_out, fan_in), dtype=np.int64)
        bias = rng.integers(-5000, 5000, n_out)
        # outputs spread over the int8 range: scale ~ 40 / the accumulator's spread
        spread = 5376.0 * math.sqrt(fan_in)
        pairs = [_tflite_multiplier(40.0 / spread * rng.uniform(0.7, 1.4)) for _ in range(n_out)]
        if layer.kind == "dense":  # CMSIS-NN's fully connected layer is per tensor
            pairs = [pairs[0]] * n_out
        mult = np.array([m for m, _ in pairs])
        shift = np.array([s for _, s in pairs])
        data += _array(p + "bias", "int32_t", bias) + _array(p + "mult", "int32_t", mult)
        data += _array(p + "shift_c", "int32_t", shift) + _array(p + "shift_h", "int32_t", 31 - shift)
    if layer.kind == "conv":
        w4 = w.reshape(layer.cout, layer.c // layer.groups, layer.kh, layer.kw)
        if layer.groups == 1:
            w_cmsis = w4.transpose(0, 2, 3, 1)  # OHWI
            w_heiti = dsp_order(w4)  # heiti's DSP kernels read rows in pairs of pairs
        else:
            w_cmsis = w4.reshape(layer.cout, layer.kh, layer.kw).transpose(1, 2, 0)  # 1HWC
            w_heiti = w4
        data += _array(p + "x_h", "int8_t", x) + _array(p + "x_c", "int8_t", x.transpose(1, 2, 0))
        data += _array(p + "w_h", "int8_t", w_heiti) + _array(p + "w_c", "int8_t", w_cmsis)
        out = layer.cout * layer.oh * layer.ow
        dw = layer.groups > 1
        heiti = (f"hm_conv_params hp = {{{layer.c}, {layer.h}, {layer.w}, {layer.cout}, {layer.kh}, "
                 f"{layer.kw}, {layer.stride}, {layer.pad}, {layer.groups}, {layer.oh}, {layer.ow}, -128, "
                 f"127, {p}w_h, {p}bias, {p}mult, {p}shift_h, {in_zp}, {out_zp}, {HM_TFLITE}, hm_scratch}};\n"
                 f"    #define HEITI_CALL hm_conv2d({p}x_h, out_h, &hp)\n")
        dims = (f"cmsis_nn_dims id = {{1, {layer.h}, {layer.w}, {layer.c}}}, "
                f"fd = {{{1 if dw else layer.cout}, {layer.kh}, {layer.kw}, "
                f"{layer.cout if dw else layer.c}}}, "
                f"bd = {{1, 1, 1, {layer.cout}}}, od = {{1, {layer.oh}, {layer.ow}, {layer.cout}}};\n"
                f"    cmsis_nn_per_channel_quant_params q = {{(int32_t *){p}mult, (int32_t *){p}shift_c}};\n")
        common = (f"{-in_zp}, {out_zp}, " + ("1, " if dw else "") + f"{{{layer.stride}, {layer.stride}}}, "
                  f"{{{layer.pad}, {layer.pad}}}, {{1, 1}}, {{-128, 127}}")
        if dw:
            cmsis = (dims + f"    cmsis_nn_dw_conv_params cp = {{{common}}};\n"
                     "    cmsis_nn_context ctx = {cmsis_buf, arm_depthwise_conv_wrapper_s8_get_buffer_size("
                     "&cp, &id, &fd, &od)};\n"
                     f"    #define CMSIS_CALL arm_depthwise_conv_wrapper_s8(&ctx, &cp, &q, &id, {p}x_c, &fd, "
                     f"{p}w_c, &bd, {p}bias, &od, out_c)\n")
        else:
            cmsis = (dims + f"    cmsis_nn_conv_params cp = {{{common}}};\n"
                     "    cmsis_nn_context ctx = {cmsis_buf, arm_convolve_wrapper_s8_get_buffer_size("
                     "&cp, &id, &fd, &od)};\n"
                     f"    #define CMSIS_CALL arm_convolve_wrapper_s8(&ctx, &cp, &q, &id, {p}x_c, &fd, "
                     f"{p}w_c, &bd, {p}bias, &od, out_c)\n")
        compare = f"mismatches = compare_chw_hwc(out_h, out_c, {layer.cout}, {layer.oh * layer.ow});"
    elif layer.kind == "dense":
        data += _array(p + "x", "int8_t", x) + _array(p + "w_h", "int8_t", dsp_order(w))
        data += _array(p + "w_c", "int8_t", w)
        out = layer.cout
        heiti = (f"hm_dense_params hp = {{{layer.c}, {layer.cout}, -128, 127, {p}w_h, {p}bias, {p}mult, "
                 f"{p}shift_h, {in_zp}, {out_zp}, {HM_TFLITE}, hm_scratch}};\n"
                 f"    #define HEITI_CALL hm_dense({p}x, out_h, &hp)\n")
        cmsis = (f"cmsis_nn_dims id = {{1, 1, 1, {layer.c}}}, fd = {{{layer.c}, 1, 1, {layer.cout}}}, "
                 f"bd = {{1, 1, 1, {layer.cout}}}, od = {{1, 1, 1, {layer.cout}}};\n"
                 f"    cmsis_nn_per_tensor_quant_params q = {{{int(mult[0])}, {int(shift[0])}}};\n"
                 f"    cmsis_nn_fc_params cp = {{{-in_zp}, 0, {out_zp}, {{-128, 127}}}};\n"
                 "    cmsis_nn_context ctx = {cmsis_buf, arm_fully_connected_s8_get_buffer_size(&fd)};\n"
                 f"    #define CMSIS_CALL arm_fully_connected_s8(&ctx, &cp, &q, &id, {p}x, &fd, {p}w_c, &bd, "
                 f"{p}bias, &od, out_c)\n")
        compare = f"mismatches = compare_flat(out_h, out_c, {out});"
    elif layer.kind == "add":
        # TFLite's ADD parameters for input scales 0.05 and 0.07, output scale 0.1
        s1, s2, so, left = 0.05, 0.07, 0.1, 20
        twice = 2 * max(s1, s2)
        (m1, e1), (m2, e2), (mo, eo) = (_tflite_multiplier(s1 / twice), _tflite_multiplier(s2 / twice),
                                        _tflite_multiplier(twice / (2**left * so)))
        b_zp = int(rng.integers(-20, 20))
        y = rng.integers(-128, 128, layer.c)
        data += _array(p + "a", "int8_t", x) + _array(p + "b", "int8_t", y)
        out = layer.c
        heiti = (f"hm_add_params hp = {{{layer.c}, {in_zp}, {b_zp}, {out_zp}, {left}, -128, 127, "
                 f"{{{m1}, {m2}, {mo}}}, {{{31 - e1}, {31 - e2}, {31 - eo}}}, {HM_TFLITE}}};\n"
                 f"    #define HEITI_CALL hm_add_tflite({p}a, {p}b, out_h, &hp)\n")
        cmsis = (f"#define CMSIS_CALL arm_elementwise_add_s8({p}a, {p}b, {-in_zp}, {m1}, {e1}, {-b_zp}, "
                 f"{m2}, {e2}, {left}, out_c, {out_zp}, {mo}, {eo}, -128, 127, {layer.c})\n")
        compare = f"mismatches = compare_flat(out_h, out_c, {out});"
    elif layer.kind == "softmax":  # TFLite's int8 SOFTMAX (output scale 1/256, zero point -128)
        from heiti.micro.ops.softmax import parameters

        a = parameters(SOFTMAX_INPUT_SCALE)
        data += _array(p + "x", "int8_t", x)
        out = layer.c
        heiti = (f"#define HEITI_CALL hm_softmax({p}x, out_h, {layer.c}, {a['mult']}, {a['left_shift']}, "
                 f"{a['diff_min']})\n")
        cmsis = (f"#define CMSIS_CALL arm_softmax_s8({p}x, 1, {layer.c}, {a['mult']}, {a['left_shift']}, "
                 f"{a['diff_min']}, out_c)\n")
        compare = f"mismatches = compare_flat(out_h, out_c, {out});"
    else:  # avgpool: TFLite's AVERAGE_POOL_2D (input and output share the quantization)
        data += _array(p + "x_h", "int8_t", x) + _array(p + "x_c", "int8_t", x.transpose(1, 2, 0))
        out = layer.c * layer.oh * layer.ow
        heiti = (f"hm_pool_params hp = {{{layer.c}, {layer.h}, {layer.w}, {layer.kh}, {layer.kw}, "
                 f"{layer.stride}, {layer.oh}, {layer.ow}, {HM_POOL_ROUND}, -128, 127, 0, 0, 0, 0, "
                 f"{HM_TFLITE}}};\n    #define HEITI_CALL hm_avgpool({p}x_h, out_h, &hp)\n")
        cmsis = (f"cmsis_nn_dims id = {{1, {layer.h}, {layer.w}, {layer.c}}}, fd = {{1, {layer.kh}, "
                 f"{layer.kw}, 1}}, od = {{1, {layer.oh}, {layer.ow}, {layer.c}}};\n"
                 f"    cmsis_nn_pool_params pp = {{{{{layer.stride}, {layer.stride}}}, {{0, 0}}, "
                 f"{{-128, 127}}}};\n"
                 f"    cmsis_nn_context ctx = {{cmsis_buf, arm_avgpool_s8_get_buffer_size({layer.ow}, "
                 f"{layer.c})}};\n"
                 f"    #define CMSIS_CALL arm_avgpool_s8(&ctx, &pp, &id, {p}x_c, &fd, &od, out_c)\n")
        compare = f"mismatches = compare_chw_hwc(out_h, out_c, {layer.c}, {layer.oh * layer.ow});"
    block = (f"  {{\n    {heiti}    {cmsis}"
             f"    memset(out_h, 0x55, {out}); memset(out_c, 0x33, {out});\n"
             f"    uint64_t t0 = board_instructions();\n"
             f"    for (int r = 0; r < {reps}; r++) HEITI_CALL;\n"
             f"    uint64_t t1 = board_instructions();\n"
             f"    for (int r = 0; r < {reps}; r++) CMSIS_CALL;\n"
             f"    uint64_t t2 = board_instructions();\n"
             f"    {compare}\n"
             f"    report({i}, (t1 - t0) / {reps}, (t2 - t1) / {reps}, mismatches);\n"
             f"    #undef HEITI_CALL\n    #undef CMSIS_CALL\n  }}\n")
    return data, block, out


HARNESS = """\
#include <stdint.h>
#include <string.h>
#include "arm_nnfunctions.h"
#include "board.h"
#include "fault.h"
#include "heiti_micro.h"

%(data)s
static int16_t hm_scratch[%(scratch)d];
static int8_t cmsis_buf[%(scratch)d * 2] __attribute__((aligned(4)));
static int8_t out_h[%(out)d], out_c[%(out)d];

static void print(const char *s) { board_write((const uint8_t *)s, (uint32_t)strlen(s)); }

static void print_u(uint64_t v)
{
    char text[24];
    int n = 0;
    do { text[n++] = (char)('0' + v %% 10); v /= 10; } while (v);
    while (n) { char c = text[--n]; board_write((const uint8_t *)&c, 1); }
}

void fw_fault(const char *what, int count, const char *const names[], const uint32_t values[])
{
    (void)count; (void)names; (void)values;
    print("fault "); print(what); print("\\n");
    board_exit(1);
}

static int32_t compare_chw_hwc(const int8_t *chw, const int8_t *hwc, int32_t c, int32_t plane)
{
    int32_t bad = 0;
    for (int32_t k = 0; k < c; k++)
        for (int32_t i = 0; i < plane; i++)
            bad += chw[k * plane + i] != hwc[i * c + k];
    return bad;
}

static int32_t compare_flat(const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t bad = 0;
    for (int32_t i = 0; i < n; i++)
        bad += a[i] != b[i];
    return bad;
}

static void report(int layer, uint64_t heiti, uint64_t cmsis, int32_t mismatches)
{
    print("layer "); print_u((uint64_t)layer); print(" "); print_u(heiti); print(" ");
    print_u(cmsis); print(" "); print_u((uint64_t)mismatches); print("\\n");
}

int main(void)
{
    int32_t mismatches;
    board_init();
%(blocks)s    print("done\\n");
    board_exit(0);
}
"""


def build_and_run(layers: list[Layer], cmsis_nn: Path, work: Path) -> dict[Layer, tuple[float, float]]:
    """Instructions per call (heiti, CMSIS-NN) for every layer; raises if any output differs."""
    board = boards.builtin()[BOARD]
    rng = np.random.default_rng(0)
    data, blocks, largest = "", "", 1
    for i, layer in enumerate(layers):
        d, b, out = _layer_code(i, layer, rng)
        data, blocks, largest = data + d, blocks + b, max(largest, out)
    scratch = max(2 * y.c * y.kh * y.kw + 2 + (y.h + 2 * y.pad) * (y.w + 2 * y.pad) + 2 * y.c
                  for y in layers)
    (work / "harness.c").write_text(HARNESS % {"data": data, "blocks": blocks, "scratch": scratch,
                                               "out": largest}, encoding="utf-8")
    (work / "fw_config.h").write_text(
        f"#define FW_UART_BASE 0x{board.uart.base:08x}u\n"
        f"#define FW_TICK_INSTRUCTIONS {board.counter.instructions_per_tick}u\n", encoding="utf-8")
    (work / "firmware.ld").write_text(linker_script(board), encoding="utf-8")
    boards_c = Path(str(resources.files("heiti.boards") / "c"))
    micro_c = Path(str(resources.files("heiti.micro") / "c"))
    cc, arch = board.toolchain.compiler, board.toolchain.flags
    (work / "heiti_micro.c").write_text(library_source(), encoding="utf-8")  # as micro-c writes it
    heiti_sources = [work / "heiti_micro.c"]
    include = ["-I", str(work), "-I", str(micro_c)]
    cmsis_include = ["-I", str(cmsis_nn / "Include")]
    compile_flags = [f for f in FLAGS if not f.startswith("-Wl,")]
    jobs = []
    for source in heiti_sources:  # as heiti's firmware compiles its kernels
        jobs.append([cc, *arch, *compile_flags, *include, "-c", str(source)])
    for folder in CMSIS_FOLDERS:
        for source in sorted((cmsis_nn / "Source" / folder).glob("*.c")):
            if re.search(r"_f(16|32)", source.name):  # float kernels: not needed, need other headers
                continue
            jobs.append([cc, *arch, *CMSIS_FLAGS, *cmsis_include, "-c", str(source)])
    for name in (STARTUP[board.family][0], "board_cmsdk.c"):
        jobs.append([cc, *arch, *compile_flags, "-include", "fw_config.h", *include, "-c",
                     str(boards_c / name)])
    jobs.append([cc, *arch, "-std=c99", "-O2", "-ffunction-sections", "-fdata-sections", *include,
                 "-I", str(boards_c), *cmsis_include, "-c", "harness.c"])
    def compile_one(k: int) -> str:
        done = subprocess.run([*jobs[k], "-o", f"o{k}.o"], cwd=work, capture_output=True, text=True)
        _check(done, jobs[k])
        return f"o{k}.o"

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        objects = list(pool.map(compile_one, range(len(jobs))))
    link = [cc, *arch, "-nostartfiles", "-Wl,--gc-sections", "-T", "firmware.ld", "-o", "bench.elf",
            *objects, "-lc", "-lnosys", "-lgcc"]
    _check(subprocess.run(link, cwd=work, capture_output=True, text=True), link)
    command = qemu_command(board, work / "bench.elf", f"file,id=uart,path={work / 'uart.txt'}")
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    text = (work / "uart.txt").read_text()
    if run.returncode != 0 or "done" not in text:
        raise SystemExit(f"the benchmark firmware failed ({run.returncode}): {text[-500:]} "
                         f"{run.stderr[-500:]}")
    results = {}
    for index, heiti, cmsis, bad in re.findall(r"layer (\d+) (\d+) (\d+) (\d+)", text):
        layer = layers[int(index)]
        if int(bad):
            raise SystemExit(f"{layer.label}: {bad} output values differ between heiti and CMSIS-NN")
        results[layer] = (float(heiti), float(cmsis))
    return results


def _check(done: subprocess.CompletedProcess, command: list[str]) -> None:
    if done.returncode:
        raise SystemExit(f"{' '.join(command)}\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cmsis-nn", type=Path, required=True, help="a CMSIS-NN source tree")
    args = parser.parse_args()
    from heiti.models.ds_cnn import DsCnn
    from heiti.models.mobilenet_v2 import MobileNetV2

    networks = [Network("MobileNetV2-style (0.5, 0.5) on 8x8",
                        network_layers(MobileNetV2({}), (1, 8, 8), 10)),
                Network("DS-CNN on 8x8", network_layers(DsCnn({}), (1, 8, 8), 10)),
                Network("DS-CNN on 49x10 (MLPerf Tiny input)", network_layers(DsCnn({}), (1, 49, 10), 12)),
                Network("MobileNetV1-0.25 on 96x96x3", mobilenet_v1_layers()),
                Network("ResNet-8 on 32x32x3", resnet8_layers()),
                Network("FC autoencoder on 640", autoencoder_layers())]
    layers = list(dict.fromkeys([*SINGLE_LAYERS, *(y for n in networks for y in n.layers)]))
    with tempfile.TemporaryDirectory() as tmp:
        results = build_and_run(layers, args.cmsis_nn.resolve(), Path(tmp))

    def ratio_row(label: str, work: float, heiti: float, cmsis: float, unit: str) -> list[str]:
        return [label, unit, f"{heiti / work:.2f}", f"{cmsis / work:.2f}", f"{cmsis / heiti:.2f}"]

    header = ["layer", "per", "heiti", "CMSIS-NN", "CMSIS-NN / heiti"]
    print(f"\nInstructions per MAC (per element for add/avgpool/softmax) on {BOARD}, outputs equal\n")
    rows = []
    for layer in SINGLE_LAYERS:
        heiti, cmsis = results[layer]
        rows.append(ratio_row(layer.label, layer.work, heiti, cmsis,
                              "MAC" if layer.kind in ("conv", "dense") else "element"))
    print_table(header, rows)
    for network in networks:
        rows, total = [], {"heiti": 0.0, "cmsis": 0.0, "macs": 0}
        for layer, uses in network.layers.items():
            heiti, cmsis = results[layer]
            total["heiti"] += uses * heiti
            total["cmsis"] += uses * cmsis
            total["macs"] += uses * layer.work if layer.kind in ("conv", "dense") else 0
            rows.append(ratio_row(f"{layer.label} (x{uses})", layer.work, heiti, cmsis,
                                  "MAC" if layer.kind in ("conv", "dense") else "element"))
        rows.append(ratio_row("whole network (all layers / MACs)", total["macs"], total["heiti"],
                              total["cmsis"], "MAC"))
        print(f"\n{network.name}: {total['macs']:,} MACs\n")
        print_table(header, rows)


if __name__ == "__main__":
    main()
