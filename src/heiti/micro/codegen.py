"""C99 code generation: ``model.h``/``model.c`` for an integer graph plus the kernel library.

Weights become const arrays (flash), every intermediate tensor lives at its planned
offset in one static arena (RAM), and ``heiti_model_run`` is the straight-line
operator sequence, each operator's statement written by its unit (``micro/ops``). The
input is read from the caller's buffer (raw bytes), the int8 output is copied to the
caller's buffer. The kernel library ``heiti_micro.c`` is put together from the operators'
kernel files (one per operator in ``micro/c``, DSP variants in ``micro/c/dsp``, RV32 ones
in ``micro/c/rv32``), so a firmware compiles one translation unit.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from heiti.errors import InputError
from heiti.micro.graph import Graph, Op
from heiti.micro.ops import unit, units
from heiti.micro.palette import Palette
from heiti.micro.planner import MemoryPlan, plan_memory

HEADER = "heiti_micro.h"
LIBRARY = "heiti_micro.c"
COMMON = "hm_common.h"  # static helpers every kernel file includes; inlined once into the library
_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t"}
_DECL_TYPES = {**_CTYPES, np.dtype(np.uint8): "uint8_t"}  # uint8: packed palette indices
_ROUNDING = {"tflite": "HM_TFLITE", "tflite-single": "HM_TFLITE_SINGLE"}


def check_supported(graph: Graph) -> None:
    """Reject what the kernel library cannot run before any C is written."""
    problem = graph.problem()
    if problem:
        raise InputError(f"micro-c: {problem}")
    for i, op in enumerate(graph.ops):
        if graph.scheme not in unit(op.kind).schemes:
            raise InputError(f"micro-c: operator {i} '{op.kind}' has no kernel in the {graph.scheme} scheme")
        for key, array in op.arrays.items():
            if array.dtype not in _CTYPES:
                raise InputError(f"micro-c: operator {i} '{op.kind}' array '{key}' is {array.dtype}, "
                                 "expected int8 or int32")


def array_decl(name: str, array: np.ndarray) -> str:
    values = [str(int(v)) for v in array.reshape(-1)]
    rows = [", ".join(values[i : i + 24]) for i in range(0, len(values), 24)]
    body = ",\n    ".join(rows)
    return f"static const {_DECL_TYPES[array.dtype]} {name}[{len(values)}] = {{\n    {body}\n}};\n"


def dsp_order(weight: np.ndarray) -> np.ndarray:
    """Rows in the order the DSP kernels read them: (0, 2, 1, 3) in every full group of four."""
    rows = weight.reshape(len(weight), -1).copy()
    full = rows.shape[1] // 4 * 4
    rows[:, :full] = rows[:, :full].reshape(len(rows), -1, 4)[:, :, [0, 2, 1, 3]].reshape(len(rows), full)
    return rows


@dataclass
class Emit:
    """What a unit needs to write its operator's C: names, buffers and declarations."""

    index: int
    op: Op
    graph: Graph
    plan: MemoryPlan
    palette: Palette | None = None  # how the weights are stored: None dense int8

    @property
    def name(self) -> str:
        """The prefix of the operator's C identifiers."""
        return f"op{self.index}"

    def buffer(self, tensor: str) -> str:
        if tensor not in self.graph.inputs:
            return f"A + {self.plan.offsets[tensor]}"
        return input_at(self.graph, tensor, self.graph.tensors[tensor].dtype == "int8")

    @property
    def src(self) -> str:
        return self.buffer(self.op.inputs[0])

    @property
    def out(self) -> str:
        return self.buffer(self.op.output)

    @property
    def weight(self) -> str:
        """The kernel's weight array (none for a palette-stored layer: its kernel's ``_palette``
        wrapper decodes the weights into ``decode_buffer``)."""
        return "NULL" if self.palette else f"{self.name}_weight"

    @property
    def decode_buffer(self) -> str:
        return f"A + {self.plan.offsets[decoded(self.index)]}"

    @property
    def rounding(self) -> str:
        """The requantization of the graph's scheme, as the kernels' enum."""
        return _ROUNDING.get(self.graph.scheme, "HM_HEITI")

    def arrays(self, inline: tuple[str, ...] = (), special: dict[str, str] | None = None) -> str:
        """Const arrays of the operator's arrays except ``inline`` ones (passed as scalars);
        ``special`` gives ready declarations of some keys."""
        special = special or {}
        return "".join(special.get(k) or array_decl(f"{self.name}_{k}", v)
                       for k, v in sorted(self.op.arrays.items()) if k not in inline)

    def struct(self, ctype: str, fields: list) -> str:
        return f"static const {ctype} {self.name} = {{{', '.join(map(str, fields))}}};\n"


def decoded(index: int) -> str:
    """The memory plan's name of operator ``index``'s decoded weights."""
    return f"op{index}.weight"


def library_source(palettes: bool = False, depthwise: bool = True) -> str:
    """``heiti_micro.c``: the common helpers, then every operator's DSP variant (when it has
    one) and portable kernel. All of them, whichever the model uses: the compiler's inlining
    of the shared helpers, and so the instruction counts, do not depend on the model; the
    firmware link drops unused kernels. The palette decoder (no shared helpers) only with
    ``palettes``. Without ``depthwise`` the DSP depthwise paths are left out: the convolution
    kernel chooses among them at run time, so the link cannot drop them."""
    folder = resources.files("heiti.micro") / "c"
    files: list[Any] = []
    for rules in units().values():
        home = folder if rules.c_dir is None else rules.c_dir
        for name in rules.c_files:
            for path in (home / "dsp" / name, home / "rv32" / name, home / name):
                if path not in files and path.is_file():
                    files.append(path)
    include = re.compile(r'^#include "(hm_common\.h|dsp/hm_dsp\.h|rv32/hm_rv32\.h)"\n', re.M)
    parts = ["/* heiti micro int8 kernels, put together by micro-c from the kernel files of the "
             "operators this model uses.\n * Semantics: heiti_micro.h and docs/micro.md. */\n",
             "" if depthwise else "#define HM_NO_DEPTHWISE 1\n",
             include.sub("", (folder / COMMON).read_text(encoding="utf-8")),
             include.sub("", (folder / "core.c").read_text(encoding="utf-8"))]
    if palettes:
        decoder = include.sub("", (folder / "palette.c").read_text(encoding="utf-8"))
        parts.append("\n/* ---- palette.c ---- */\n" + decoder)
    for variant, header in (("dsp", "hm_dsp.h"), ("rv32", "hm_rv32.h")):  # the variants' helpers
        if any(path.parent.name == variant for path in files):
            parts.append(include.sub("", (folder / variant / header).read_text(encoding="utf-8")))
    for path in files:
        label = f"{path.parent.name}/{path.name}" if path.parent.name in ("dsp", "rv32") else path.name
        parts.append(f"\n/* ---- {label} ---- */\n" + include.sub("", path.read_text(encoding="utf-8")))
    return "".join(parts)


def scratch_elements(graph: Graph) -> int:
    """int16 scratch the DSP kernels need (the largest of any operator)."""
    return max((unit(op.kind).scratch(op, graph) for op in graph.ops), default=0)


def input_at(graph: Graph, name: str, signed: bool) -> str:
    """A model input in the caller's buffer, where the inputs lie one after the other."""
    at = graph.input_offset(name)
    base = "(const int8_t *)input" if signed else "input"
    return f"{base} + {at}" if at else base


def generate(graph: Graph, folder: Path, palettes: dict[int, Palette] | None = None) -> MemoryPlan:
    """Write model.h, model.c and the kernel library into ``folder``; return the memory plan.
    ``palettes`` (operator index -> storage, ``micro/palette.py``): layers stored as packed
    indices and decoded into the arena, chunk by chunk of output channels, as they run."""
    check_supported(graph)
    palettes = palettes or {}
    plan = plan_memory(graph, scratch={decoded(i): (p.chunk * p.row_len, i) for i, p in palettes.items()})
    folder.mkdir(parents=True, exist_ok=True)
    ins = [graph.tensors[name] for name in graph.inputs]
    inp = ins[0]
    input_text = (f"raw {inp.dtype}, CHW {list(inp.shape)}" if len(ins) == 1 else "; ".join(
        f"raw {t.dtype} {list(t.shape)} at {graph.input_offset(t.name)}" for t in ins))
    outs = [graph.tensors[name] for name in graph.outputs]
    described = "; ".join(f"{list(t.shape)} at {sum(o.size for o in outs[:k])}: real = "
                          f"(q - {t.zero_point}) * {t.scale!r}" for k, t in enumerate(outs))
    header = f"""/* Generated by heiti micro-c: do not edit. Semantics: docs/micro.md. */
#ifndef HEITI_MODEL_H
#define HEITI_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

#define HEITI_MODEL_INPUT_SIZE {graph.input_size}    /* {input_text} */
#define HEITI_MODEL_OUTPUT_SIZE {graph.output_size}   /* int8 {described} */
#define HEITI_MODEL_ARENA_SIZE {plan.arena_bytes}
#define HEITI_MODEL_LAYERS {len(graph.ops)}    /* operators, in graph order */

/* Runs the model on one sample; returns 0. Not reentrant: one static arena. */
int heiti_model_run(const uint8_t *input, int8_t *output);

/* Runs the model and returns the index of the largest output (ties: the lowest). */
int32_t heiti_model_classify(const uint8_t *input, int8_t *output);

#ifdef __cplusplus
}}
#endif

#endif
"""
    decls, calls = [], []
    for i, op in enumerate(graph.ops):
        decl, call = unit(op.kind).emit_c(Emit(i, op, graph, plan, palettes.get(i)))
        decls.append(decl)
        calls.append(f"    HEITI_LAYER({i});\n    {call}  /* {op.kind} -> {op.output} */")
    words = max(1, (plan.arena_bytes + 3) // 4)
    elements = scratch_elements(graph)
    scratch = ("/* the DSP kernels' int16 scratch (one element in portable builds) */\n"
               f"static int16_t hm_scratch[HM_SCRATCH({elements})];\n" if elements else "")
    copies, at = [], 0  # every output into the caller's buffer, one after the other
    for name, t in zip(graph.outputs, outs, strict=True):
        source = input_at(graph, name, True) if name in graph.inputs else f"A + {plan.offsets[name]}"
        copies.append(f"hm_copy({source}, output{f' + {at}' if at else ''}, {t.size});")
        at += t.size
    copy = "\n    ".join(copies)
    source = f"""/* Generated by heiti micro-c: do not edit. Semantics: docs/micro.md. */
#include <stddef.h>

#include "model.h"
#include "heiti_micro.h"

/* a profiling build defines HEITI_LAYER(i) to note where operator i starts (i = LAYERS: the end) */
#ifndef HEITI_LAYER
#define HEITI_LAYER(i) ((void)0)
#endif

/* int32_t words keep the arena word-aligned without compiler extensions */
static int32_t arena[{words}];
{scratch}

{"".join(decls)}
int heiti_model_run(const uint8_t *input, int8_t *output)
{{
    int8_t *const A = (int8_t *)arena;
    (void)A;
{chr(10).join(calls)}
    HEITI_LAYER({len(graph.ops)});
    {copy}
    return 0;
}}

int32_t heiti_model_classify(const uint8_t *input, int8_t *output)
{{
    heiti_model_run(input, output);
    return hm_argmax(output, {outs[0].size});
}}
"""
    (folder / "model.h").write_text(header, encoding="utf-8")
    (folder / "model.c").write_text(source, encoding="utf-8")
    depthwise = any(op.kind == "conv2d" and op.attrs["groups"] > 1 for op in graph.ops)
    (folder / LIBRARY).write_text(library_source(bool(palettes), depthwise), encoding="utf-8")
    with resources.as_file(resources.files("heiti.micro") / "c" / HEADER) as src:
        shutil.copyfile(src, folder / HEADER)
    return plan
