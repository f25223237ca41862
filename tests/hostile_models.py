"""Valid small models and seeded byte mutants of them, for the tests and the benchmark
that feed hostile model files to parsers (tests/test_server_security.py,
benchmarks/model_mutants.py)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

TFLITE_IO = {"inputs": [{"name": "x", "shape": [1, 8, 8, 1], "dtype": "int8", "scale": 0.0625,
                         "zero_point": -128}],
             "outputs": [{"name": "y", "shape": [1, 10], "dtype": "int8", "scale": 0.25, "zero_point": 0}]}
PTE_IO = {"inputs": [{"name": "x", "shape": [1, 4]}], "outputs": [{"name": "y", "shape": [1, 3]}]}


def int8_tflite() -> bytes:
    """A fully int8 digits classifier (8 x 8 x 1 -> RESHAPE -> FULLY_CONNECTED -> 10, fixed
    pseudo-random weights) written with TFLite's own schema classes as the converter
    writes one: TFLM runs it and micro-import-tflite imports it for the digits dataset."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s

    def buffer(values: np.ndarray | None) -> s.BufferT:
        b = s.BufferT()
        b.data = None if values is None else np.frombuffer(values.tobytes(), np.uint8)
        return b

    def tensor(name: str, shape: list[int], kind: int, index: int, scale: list[float] | None,
               zero_point: int = 0) -> s.TensorT:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name.encode(), np.array(shape, np.int32), kind, index
        if scale is not None:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale = np.array(scale, np.float32)
            t.quantization.zeroPoint = np.full(len(scale), zero_point, np.int64)
        return t

    def operator(code: int, inputs: list[int], output: int, kind: int, options: object) -> s.OperatorT:
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = code, np.array(inputs, np.int32), np.array([output], np.int32)
        op.builtinOptionsType, op.builtinOptions = kind, options
        return op

    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, (10, 64), dtype=np.int8)
    bias = rng.integers(-1000, 1000, 10, dtype=np.int32)
    graph = s.SubGraphT()
    graph.tensors = [tensor("x", [1, 8, 8, 1], s.TensorType.INT8, 1, [0.0625], -128),
                     tensor("flat", [1, 64], s.TensorType.INT8, 2, [0.0625], -128),
                     tensor("w", [10, 64], s.TensorType.INT8, 3, [0.01]),
                     tensor("b", [10], s.TensorType.INT32, 4, [0.000625]),
                     tensor("y", [1, 10], s.TensorType.INT8, 5, [0.25]),
                     tensor("new_shape", [2], s.TensorType.INT32, 6, None)]
    graph.inputs, graph.outputs = np.array([0], np.int32), np.array([4], np.int32)
    reshape = s.ReshapeOptionsT()
    reshape.newShape = np.array([1, 64], np.int32)
    graph.operators = [operator(0, [0, 5], 1, s.BuiltinOptions.ReshapeOptions, reshape),
                       operator(1, [1, 2, 3], 4, s.BuiltinOptions.FullyConnectedOptions,
                                s.FullyConnectedOptionsT())]
    codes = []
    for builtin in (s.BuiltinOperator.RESHAPE, s.BuiltinOperator.FULLY_CONNECTED):
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = builtin
        codes.append(code)
    model = s.ModelT()
    model.version, model.operatorCodes, model.subgraphs = 3, codes, [graph]
    model.buffers = [buffer(None), buffer(None), buffer(None), buffer(weights), buffer(bias), buffer(None),
                     buffer(np.array([1, 64], np.int32))]
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def pte(path: Path) -> bytes:
    """An ExecuTorch program of a 4 -> 3 linear layer (portable operators)."""
    import torch
    from executorch.exir import to_edge

    torch.manual_seed(0)
    program = to_edge(torch.export.export(torch.nn.Linear(4, 3).eval(), (torch.ones(1, 4),)))
    data = program.to_executorch().buffer
    path.write_bytes(data)
    return data


def mutants(data: bytes, count: int, seed: int) -> list[bytes]:
    """``count`` byte mutants of ``data``, reproducible from ``seed``: 1 to 8 bytes set to
    random values (most), or the file cut short, or bytes inserted."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        mutant = bytearray(data)
        roll = rng.random()
        if roll < 0.8:
            for _ in range(rng.randint(1, 8)):
                mutant[rng.randrange(len(mutant))] = rng.randrange(256)
        elif roll < 0.9:
            del mutant[rng.randrange(1, len(mutant)):]
        else:
            at = rng.randrange(len(mutant))
            mutant[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        out.append(bytes(mutant))
    return out
