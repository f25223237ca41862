"""C99 code generation: ``model.h``/``model.c`` for an integer graph plus the kernel library.

Weights become const arrays (flash), every intermediate tensor lives at its planned
offset in one static arena (RAM), and ``heiti_model_run`` is the straight-line
operator sequence. The input is read from the caller's buffer (raw uint8), the
int8 output is copied to the caller's buffer.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np

from heiti.errors import InputError
from heiti.micro.graph import TFLITE_SCHEMES, Graph, Op
from heiti.micro.planner import MemoryPlan, plan_memory

KERNEL_FILES = ("heiti_micro.c", "heiti_micro.h")
_INLINE = {"preprocess": ("mult", "shift"), "add": ("mult_a", "mult_b", "shift", "mult"),
           "avgpool": ("mult", "shift")}
_CTYPES = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t"}


def check_supported(graph: Graph) -> None:
    """Reject what the kernel library cannot run before any C is written."""
    problem = graph.problem()
    if problem:
        raise InputError(f"micro-c: {problem}")
    for i, op in enumerate(graph.ops):
        for key, array in op.arrays.items():
            if array.dtype not in _CTYPES:
                raise InputError(f"micro-c: operator {i} '{op.kind}' array '{key}' is {array.dtype}, "
                                 "expected int8 or int32")


def _array(name: str, array: np.ndarray) -> str:
    values = [str(int(v)) for v in array.reshape(-1)]
    rows = [", ".join(values[i : i + 24]) for i in range(0, len(values), 24)]
    body = ",\n    ".join(rows)
    return f"static const {_CTYPES[array.dtype]} {name}[{len(values)}] = {{\n    {body}\n}};\n"


def dsp_order(weight: np.ndarray) -> np.ndarray:
    """Rows in the order the DSP kernels read them: (0, 2, 1, 3) in every full group of four."""
    rows = weight.reshape(len(weight), -1).copy()
    full = rows.shape[1] // 4 * 4
    rows[:, :full] = rows[:, :full].reshape(len(rows), -1, 4)[:, :, [0, 2, 1, 3]].reshape(len(rows), full)
    return rows


def _weights(name: str, op: Op) -> str:
    """The weight array; dense and non-grouped convolutions also in the DSP kernels' order."""
    weight = op.arrays["weight"]
    if op.kind == "dense" or op.attrs.get("groups") == 1:
        return (f"#if HM_DSP  /* (0, 2, 1, 3) in every group of four of a row: see heiti_micro.c */\n"
                f"{_array(name, dsp_order(weight))}#else\n{_array(name, weight)}#endif\n")
    return _array(name, weight)


def _mult(op: Op, prefix: str) -> str:
    return f"{prefix}_mult" if "mult" in op.arrays else "NULL"


_POOL_MODES = {"round": "HM_POOL_ROUND", "requant": "HM_POOL_REQUANT"}


def _rounding(graph: Graph) -> str:
    return {"tflite": "HM_TFLITE", "tflite-single": "HM_TFLITE_SINGLE"}.get(graph.scheme, "HM_HEITI")


def _tflite_fields(op: Op, graph: Graph) -> list:
    """The trailing struct fields of the tflite schemes (zero in the other schemes)."""
    return [op.attrs.get("in_zp", 0), op.attrs.get("out_zp", 0), _rounding(graph)]


def _pool_fields(op: Op, graph: Graph) -> list:
    a = op.attrs
    if graph.scheme not in TFLITE_SCHEMES:
        return ["HM_POOL_HEITI", 0, 0, 0, 0, 0, 0, "HM_HEITI"]
    mode = _POOL_MODES[a.get("mode", "round")] if op.kind == "avgpool" else "HM_POOL_ROUND"
    mult, shift = (int(op.arrays[k][0]) for k in ("mult", "shift")) if "mult" in op.arrays else (0, 0)
    return [mode, a.get("act_min", -128), a.get("act_max", 127), a.get("in_zp", 0), a.get("out_zp", 0),
            mult, shift, _rounding(graph)]


def _op_code(i: int, op: Op, graph: Graph, plan: MemoryPlan) -> tuple[str, str]:
    """(declarations, statement) of one operator."""
    t = graph.tensors
    a = op.attrs
    if graph.scheme in TFLITE_SCHEMES and op.kind == "add":
        return _tflite_add(i, op, graph, plan)
    out = f"A + {plan.offsets[op.output]}"
    src = "input" if op.inputs[0] == graph.input else f"A + {plan.offsets[op.inputs[0]]}"
    p = f"op{i}"
    inline = _INLINE.get(op.kind, ())  # scalars passed as arguments, not arrays
    decl = "".join(_weights(f"{p}_{k}", op) if k == "weight" else _array(f"{p}_{k}", v)
                   for k, v in sorted(op.arrays.items()) if k not in inline)
    shape_in, shape_out = t[op.inputs[0]].shape, t[op.output].shape
    if op.kind == "preprocess":
        c, h, w = shape_in
        mult, shift = int(op.arrays["mult"][0]), int(op.arrays["shift"][0])
        if a.get("out_zp", 0):
            return decl, (f"hm_preprocess_zp({src}, {out}, {c}, {h * w}, {p}_mean, {mult}, {shift}, "
                          f"{a['out_zp']});")
        return decl, f"hm_preprocess({src}, {out}, {c}, {h * w}, {p}_mean, {mult}, {shift});"
    if op.kind == "conv2d":
        cin, h, w = shape_in
        cout, kh, kw = op.arrays["weight"].shape[0], *op.arrays["weight"].shape[2:]
        fields = [cin, h, w, cout, kh, kw, a["stride"], a["pad"], a["groups"], shape_out[1], shape_out[2],
                  a["act_min"], a["act_max"], f"{p}_weight", f"{p}_bias", _mult(op, p), f"{p}_shift",
                  *_tflite_fields(op, graph), "hm_scratch"]
        decl += f"static const hm_conv_params {p} = {{{', '.join(map(str, fields))}}};\n"
        return decl, f"hm_conv2d({src}, {out}, &{p});"
    if op.kind == "dense":
        fields = [t[op.inputs[0]].size, shape_out[0], a["act_min"], a["act_max"],
                  f"{p}_weight", f"{p}_bias", _mult(op, p), f"{p}_shift", *_tflite_fields(op, graph),
                  "hm_scratch"]
        decl += f"static const hm_dense_params {p} = {{{', '.join(map(str, fields))}}};\n"
        return decl, f"hm_dense({src}, {out}, &{p});"
    if op.kind in ("maxpool", "avgpool"):
        c, h, w = shape_in
        kh, kw = (a["kernel"], a["kernel"]) if op.kind == "maxpool" else (a["kh"], a["kw"])
        fields = [c, h, w, kh, kw, a["stride"], shape_out[1], shape_out[2], *_pool_fields(op, graph)]
        decl += f"static const hm_pool_params {p} = {{{', '.join(map(str, fields))}}};\n"
        return decl, f"hm_{op.kind}({src}, {out}, &{p});"
    if op.kind == "add":
        other = f"A + {plan.offsets[op.inputs[1]]}"
        ma, mb, n = (int(op.arrays[k][0]) for k in ("mult_a", "mult_b", "shift"))
        return decl, (f"hm_add({src}, {other}, {out}, {t[op.output].size}, {ma}, {mb}, {n}, "
                      f"{a['act_min']}, {a['act_max']});")
    if op.kind == "clamp":
        return decl, f"hm_clamp({src}, {out}, {t[op.output].size}, {a['act_min']}, {a['act_max']});"
    return decl, "/* reshape: same bytes, same buffer */"


def _tflite_add(i: int, op: Op, graph: Graph, plan: MemoryPlan) -> tuple[str, str]:
    a, p = op.attrs, f"op{i}"
    mult, shift = (", ".join(str(int(v)) for v in op.arrays[k]) for k in ("mult", "shift"))
    fields = [graph.tensors[op.output].size, *a["in_zp"], a["out_zp"], a.get("left_shift", 20),
              a["act_min"], a["act_max"], f"{{{mult}}}", f"{{{shift}}}", _rounding(graph)]
    decl = f"static const hm_add_params {p} = {{{', '.join(map(str, fields))}}};\n"
    src, other = (f"A + {plan.offsets[name]}" if name != graph.input else "input" for name in op.inputs)
    return decl, f"hm_add_tflite({src}, {other}, A + {plan.offsets[op.output]}, &{p});"


def scratch_elements(graph: Graph) -> int:
    """int16 scratch the DSP kernels need: two gathered receptive fields interleaved by pairs
    (groups 1; two more for an odd fan-in), a padded input channel (depthwise) or the input
    vector spread as one interleaved column (dense)."""
    sizes = []
    for op in graph.ops:
        if op.kind == "conv2d":
            cin, h, w = graph.tensors[op.inputs[0]].shape
            pad, fan = op.attrs["pad"], int(np.prod(op.arrays["weight"].shape[1:]))
            sizes.append(2 * fan + 2 if op.attrs["groups"] == 1 else (h + 2 * pad) * (w + 2 * pad))
        elif op.kind == "dense":
            sizes.append(2 * graph.tensors[op.inputs[0]].size)
    return max(sizes)


def generate(graph: Graph, folder: Path) -> MemoryPlan:
    """Write model.h, model.c and the kernel library into ``folder``; return the memory plan."""
    check_supported(graph)
    if graph.ops and graph.ops[0].kind != "preprocess":
        raise InputError("micro-c: the graph must start with 'preprocess' (it reads the raw uint8 input)")
    plan = plan_memory(graph)
    folder.mkdir(parents=True, exist_ok=True)
    out = graph.tensors[graph.output]
    inp = graph.tensors[graph.input]
    header = f"""/* Generated by heiti micro-c: do not edit. Semantics: docs/micro.md. */
#ifndef HEITI_MODEL_H
#define HEITI_MODEL_H

#include <stdint.h>

#define HEITI_MODEL_INPUT_SIZE {inp.size}    /* raw uint8, CHW {list(inp.shape)} */
#define HEITI_MODEL_OUTPUT_SIZE {out.size}   /* int8; real value = (q - {out.zero_point}) * {out.scale!r} */
#define HEITI_MODEL_ARENA_SIZE {plan.arena_bytes}
#define HEITI_MODEL_LAYERS {len(graph.ops)}    /* operators, in graph order */

/* Runs the model on one sample; returns 0. Not reentrant: one static arena. */
int heiti_model_run(const uint8_t *input, int8_t *output);

/* Runs the model and returns the index of the largest output (ties: the lowest). */
int32_t heiti_model_classify(const uint8_t *input, int8_t *output);

#endif
"""
    decls, calls = [], []
    for i, op in enumerate(graph.ops):
        decl, call = _op_code(i, op, graph, plan)
        decls.append(decl)
        calls.append(f"    HEITI_LAYER({i});\n    {call}  /* {op.kind} -> {op.output} */")
    words = max(1, (plan.arena_bytes + 3) // 4)
    scratch = ("/* the DSP kernels' int16 scratch (one element in portable builds) */\n"
               f"static int16_t hm_scratch[HM_SCRATCH({scratch_elements(graph)})];\n"
               if any(op.kind in ("conv2d", "dense") for op in graph.ops) else "")
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
{chr(10).join(calls)}
    HEITI_LAYER({len(graph.ops)});
    hm_copy(A + {plan.offsets[graph.output]}, output, {out.size});
    return 0;
}}

int32_t heiti_model_classify(const uint8_t *input, int8_t *output)
{{
    heiti_model_run(input, output);
    return hm_argmax(output, {out.size});
}}
"""
    (folder / "model.h").write_text(header, encoding="utf-8")
    (folder / "model.c").write_text(source, encoding="utf-8")
    library = resources.files("heiti.micro") / "c"
    for name in KERNEL_FILES:
        with resources.as_file(library / name) as src:
            shutil.copyfile(src, folder / name)
    return plan
