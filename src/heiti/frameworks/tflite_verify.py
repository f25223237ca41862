"""A bounds-checking verifier for ``.tflite`` files, run before TFLM, LiteRT or heiti's
importer reads them.

Those readers trust the file: an offset pointing outside it, a vector longer than the
file, a tensor whose shape asks for gigabytes or a constant buffer shorter than its
tensor make them read or allocate out of bounds. The flatbuffers verifier of the C++
library is not reachable from Python (tflite-micro's package exposes none), so this
module walks the TFLite schema itself (tensorflow/lite/schema/schema.fbs in
https://github.com/tensorflow/tflite-micro): every table, vtable, vector and string
must lie inside the file, every index (operator code, tensor, buffer, subgraph) inside
its vector, every shape within the limits below, and constant data must be as long as
its tensor. Option tables of builtin operators are checked as tables; the vectors the
schema gives some of them are checked too. What it accepts may still be a model the
runtime refuses, with its own message.

Flatbuffers layout (https://flatbuffers.dev/internals/): a table starts with an int32
offset back to its vtable (u16 vtable size, u16 table size, one u16 per field: the
field's offset in the table, 0 if absent); a reference field holds a u32 offset from
the field to its target; a vector or string starts with a u32 count.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

MAX_FILE_BYTES = 2**31 - 1       # the flatbuffer format's own limit
MAX_DIMS = 8
MAX_TENSOR_BYTES = 2**30         # one tensor; a microcontroller model is KBs to a few MBs
MAX_ENTRIES = 1_000_000      # vector entries walked in all (a 4-byte entry each at least)

# TensorType -> bytes per element (None: variable length or opaque: no size check)
TYPE_SIZES: dict[int, float | None] = {
    0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: None, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8,
    13: None, 14: None, 15: 4, 16: 2, 17: 0.5, 18: 2}
# BuiltinOptions union members with vectors: type -> {field: element size}
OPTION_VECTORS = {
    3: {1: 4, 2: 4},   # ConcatEmbeddingsOptions: num_columns_per_channel, embedding_dim_per_channel
    8: {5: 1},         # FullyConnectedOptions: quant_spec
    17: {0: 4},        # ReshapeOptions: new_shape
    30: {0: 4},        # SqueezeOptions: squeeze_dims
    115: {0: 4},       # BucketizeOptions: boundaries
}
_U8, _U16, _I32, _U32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<i", "<I", "<Q"))


class InvalidTflite(ValueError):
    """The file is not a well-formed .tflite model; the text says where."""


class _File:
    def __init__(self, data: bytes):
        self.data, self.size, self.items = data, len(data), 0

    def read(self, fmt: struct.Struct, pos: int, what: str) -> int:
        if pos < 0 or pos + fmt.size > self.size:
            raise InvalidTflite(f"{what} at byte {pos} lies outside the file ({self.size} bytes)")
        return fmt.unpack_from(self.data, pos)[0]

    def table(self, pos: int, what: str) -> _Table:
        vtable = pos - self.read(_I32, pos, what)
        vtable_size = self.read(_U16, vtable, f"{what}'s vtable")
        table_size = self.read(_U16, vtable + 2, f"{what}'s vtable")
        if vtable_size < 4 or vtable_size % 2 or vtable + vtable_size > self.size:
            raise InvalidTflite(f"{what}: vtable of {vtable_size} bytes at byte {vtable} does not fit")
        if table_size < 4 or pos + table_size > self.size:
            raise InvalidTflite(f"{what}: table of {table_size} bytes at byte {pos} does not fit")
        return _Table(self, pos, vtable, vtable_size, table_size, what)

    def count(self, items: int, what: str) -> None:
        self.items += items
        if self.items > MAX_ENTRIES:
            raise InvalidTflite(f"{what}: more than {MAX_ENTRIES} entries in all")


class _Table:
    def __init__(self, file: _File, pos: int, vtable: int, vtable_size: int, table_size: int, what: str):
        self.file, self.pos, self.vtable = file, pos, vtable
        self.vtable_size, self.table_size, self.what = vtable_size, table_size, what

    def _field(self, index: int, size: int) -> int | None:
        entry = 4 + 2 * index
        if entry + 2 > self.vtable_size:
            return None
        offset = self.file.read(_U16, self.vtable + entry, self.what)
        if offset == 0:
            return None
        if offset + size > self.table_size:
            raise InvalidTflite(f"{self.what}: field {index} lies outside its table")
        return self.pos + offset

    def scalar(self, index: int, fmt: struct.Struct, default: int = 0) -> int:
        pos = self._field(index, fmt.size)
        return default if pos is None else self.file.read(fmt, pos, self.what)

    def _target(self, index: int, name: str) -> int | None:
        pos = self._field(index, 4)
        if pos is None:
            return None
        target = pos + self.file.read(_U32, pos, f"{self.what}.{name}")
        if target >= self.file.size:
            raise InvalidTflite(f"{self.what}.{name} points outside the file")
        return target

    def table(self, index: int, name: str) -> _Table | None:
        target = self._target(index, name)
        return None if target is None else self.file.table(target, f"{self.what}.{name}")

    def vector(self, index: int, element: float, name: str) -> tuple[int, int] | None:
        """(position of the first element, count), or None when absent."""
        target = self._target(index, name)
        if target is None:
            return None
        count = self.file.read(_U32, target, f"{self.what}.{name}")
        if target + 4 + math.ceil(count * element) > self.file.size:
            raise InvalidTflite(f"{self.what}.{name}: {count} entries do not fit in the file")
        self.file.count(count, f"{self.what}.{name}")
        return target + 4, count

    def tables(self, index: int, name: str) -> list[_Table]:
        found = self.vector(index, 4, name)
        if found is None:
            return []
        start, count = found
        tables = []
        for i in range(count):
            pos = start + 4 * i
            tables.append(self.file.table(pos + self.file.read(_U32, pos, name), f"{self.what}.{name}[{i}]"))
        return tables

    def ints(self, index: int, name: str, size: int = 4) -> list[int]:
        found = self.vector(index, size, name)
        if found is None:
            return []
        start, count = found
        kind = "i" if size == 4 else "q"
        return list(struct.unpack_from(f"<{count}{kind}", self.file.data, start))

    def string(self, index: int, name: str) -> None:
        found = self.vector(index, 1, name)
        if found is not None:
            start, count = found
            if start + count >= self.file.size or self.file.data[start + count] != 0:
                raise InvalidTflite(f"{self.what}.{name}: string without its terminating zero")


def verify_tflite(data: bytes) -> None:
    """Raise InvalidTflite naming the first problem of ``data`` as a .tflite model."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidTflite(f"{len(data)} bytes: larger than a flatbuffer can be")
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InvalidTflite("no TFLite file identifier ('TFL3' at byte 4)")
    file = _File(data)
    model = file.table(file.read(_U32, 0, "root offset"), "model")
    codes = model.tables(1, "operator_codes")
    for code in codes:
        code.string(1, "custom_code")
    buffers = [_buffer(buffer, file) for buffer in model.tables(4, "buffers")]
    subgraphs = model.tables(2, "subgraphs")
    if not subgraphs:
        raise InvalidTflite("the model has no subgraph")
    tensor_counts = [_subgraph(subgraph, len(codes), buffers) for subgraph in subgraphs]
    model.string(3, "description")
    _indices(model.ints(5, "metadata_buffer"), len(buffers), "model.metadata_buffer")
    for metadata in model.tables(6, "metadata"):
        metadata.string(0, "name")
        _indices([metadata.scalar(1, _U32)], len(buffers), f"{metadata.what}.buffer")
    for signature in model.tables(7, "signature_defs"):
        signature.string(2, "signature_key")
        graph = signature.scalar(4, _U32)
        _indices([graph], len(subgraphs), f"{signature.what}.subgraph_index")
        for tensor_map in signature.tables(0, "inputs") + signature.tables(1, "outputs"):
            tensor_map.string(0, "name")
            _indices([tensor_map.scalar(1, _U32)], tensor_counts[graph], f"{tensor_map.what}.tensor_index")


def _buffer(buffer: _Table, file: _File) -> int:
    """The buffer's length in bytes (inside the flatbuffer, or after it for large models)."""
    data = buffer.vector(0, 1, "data")
    offset, size = buffer.scalar(1, _U64), buffer.scalar(2, _U64)
    if offset > 1 and offset + size > file.size:
        raise InvalidTflite(f"{buffer.what}: {size} bytes at byte {offset} lie outside the file")
    return data[1] if data is not None else size if offset > 1 else 0


def _subgraph(subgraph: _Table, codes: int, buffers: list[int]) -> int:
    tensors = subgraph.tables(0, "tensors")
    for tensor in tensors:
        _tensor(tensor, buffers)
    _indices(subgraph.ints(1, "inputs"), len(tensors), f"{subgraph.what}.inputs")
    _indices(subgraph.ints(2, "outputs"), len(tensors), f"{subgraph.what}.outputs")
    for op in subgraph.tables(3, "operators"):
        _indices([op.scalar(0, _U32)], codes, f"{op.what}.opcode_index")
        _indices(op.ints(1, "inputs"), len(tensors), f"{op.what}.inputs", optional=True)
        _indices(op.ints(2, "outputs"), len(tensors), f"{op.what}.outputs")
        _indices(op.ints(8, "intermediates"), len(tensors), f"{op.what}.intermediates")
        options = op.table(4, "builtin_options")
        if options is not None:
            for field, size in OPTION_VECTORS.get(op.scalar(3, _U8), {}).items():
                options.vector(field, size, f"field {field}")
        if op.table(12, "builtin_options_2") is not None:
            raise InvalidTflite(f"{op.what}: StableHLO options (builtin_options_2) are not supported")
        op.vector(5, 1, "custom_options")
        op.vector(7, 1, "mutating_variable_inputs")
        large_offset, large_size = op.scalar(9, _U64), op.scalar(10, _U64)
        if large_offset > 1 and large_offset + large_size > subgraph.file.size:
            raise InvalidTflite(f"{op.what}: custom options outside the file")
    subgraph.string(4, "name")
    return len(tensors)


def _tensor(tensor: _Table, buffers: list[int]) -> None:
    what = tensor.what
    shape = tensor.ints(0, "shape")
    if len(shape) > MAX_DIMS or any(d < 0 for d in shape):
        raise InvalidTflite(f"{what}: shape {shape[:MAX_DIMS + 1]} (at most {MAX_DIMS} dimensions, "
                            "none negative)")
    signature = tensor.ints(7, "shape_signature")
    if len(signature) > MAX_DIMS or any(d < -1 for d in signature):
        raise InvalidTflite(f"{what}: shape_signature {signature[:MAX_DIMS + 1]} is not a shape")
    kind = tensor.scalar(1, _U8)
    if kind not in TYPE_SIZES:
        raise InvalidTflite(f"{what}: unknown tensor type {kind}")
    element = TYPE_SIZES[kind]
    size = math.prod(shape) * (element or 1)
    if size > MAX_TENSOR_BYTES:
        raise InvalidTflite(f"{what}: shape {shape} needs {size:.0f} bytes (limit {MAX_TENSOR_BYTES})")
    buffer = tensor.scalar(2, _U32)
    _indices([buffer], len(buffers), f"{what}.buffer")
    if element is not None and 0 < buffers[buffer] < size:
        raise InvalidTflite(f"{what}: its constant data has {buffers[buffer]} bytes, its shape "
                            f"{shape} needs {size:.0f}")
    tensor.string(3, "name")
    if tensor.table(6, "sparsity") is not None:
        raise InvalidTflite(f"{what}: sparse tensors are not supported")
    for variant in tensor.tables(9, "variant_tensors"):
        variant.ints(0, "shape")
    quantization = tensor.table(4, "quantization")
    if quantization is not None:
        _quantization(quantization, shape)


def _quantization(q: _Table, shape: list[int]) -> None:
    q.vector(0, 4, "min")
    q.vector(1, 4, "max")
    scales = q.vector(2, 4, "scale")
    zero_points = q.vector(3, 8, "zero_point")
    details = q.table(5, "details")
    if details is not None:
        details.vector(0, 1, "custom")
    count = scales[1] if scales else 0
    zero_count = zero_points[1] if zero_points else 0
    if count and zero_count != count:
        raise InvalidTflite(f"{q.what}: {count} scales but {zero_count} zero points")
    if count > 1:
        axis = q.scalar(6, _I32)
        if not 0 <= axis < len(shape) or shape[axis] != count:
            raise InvalidTflite(f"{q.what}: {count} scales along dimension {axis} of shape {shape}")


def _indices(values: list[int], count: int, what: str, optional: bool = False) -> None:
    """Each value indexes a vector of ``count`` entries (-1: an absent optional input)."""
    for value in values:
        if not (0 <= value < count or (optional and value == -1)):
            raise InvalidTflite(f"{what}: index {value} outside 0..{count - 1}")


def read_verified(path: Path, who: str) -> bytes:
    """The bytes of the .tflite file ``path``, verified; InputError naming the file (and
    ``who`` reads it) when it cannot be read or is not well formed."""
    from heiti.errors import InputError

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{who}: cannot read '{path}': {exc.strerror or exc}") from None
    try:
        verify_tflite(data)
    except InvalidTflite as exc:
        raise InputError(f"{who}: '{path}' is not a readable .tflite model: {exc}",
                         hint="the file is damaged or not a TFLite flatbuffer; export it again") from None
    return data
