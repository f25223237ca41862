"""Palette storage of int8 weights: a layer whose weights take few distinct values (after the
``cluster`` optimizer and int8 quantization) is stored as packed 1-, 2- or 4-bit indices
plus the int8 values they index, one palette per layer or one per output channel.

The layer's kernel runs through a wrapper (``micro/c/palette.c``) that writes the int8
weights of a chunk of output channels back into a region of the arena and runs the
unchanged kernel on those channels, chunk after chunk, so the results are those of the
int8 layer: flash holds the packed form, RAM the largest chunk (docs/compression.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from heiti.micro.graph import Graph

MAX_ENTRIES = 16  # 4-bit indices at most


def index_bits(entries: int) -> int:
    """Bits per index for a palette of ``entries`` values."""
    return 1 if entries <= 2 else 2 if entries <= 4 else 4


@dataclass(frozen=True)
class Palette:
    """How one weight array ([rows][row_len] in the C kernels' layout) is stored."""

    rows: int
    row_len: int
    bits: int
    values: np.ndarray  # int8 [palettes][entries]: one row (per layer) or one per output channel
    chunk: int = 0  # output channels decoded at a time (0: all)

    def __post_init__(self) -> None:
        if not self.chunk:
            object.__setattr__(self, "chunk", self.rows)

    @property
    def per_channel(self) -> bool:
        return len(self.values) > 1

    @property
    def row_bytes(self) -> int:
        """Each row's indices start on a byte: one channel's palette covers whole bytes."""
        return (self.row_len * self.bits + 7) // 8

    @property
    def stored_bytes(self) -> int:
        return self.rows * self.row_bytes + self.values.size

    def pack(self, weight: np.ndarray) -> np.ndarray:
        """The packed indices (uint8, rows x row_bytes) of ``weight``'s rows, lowest bits first."""
        rows = weight.reshape(self.rows, self.row_len).astype(np.int16)
        palettes = np.broadcast_to(self.values, (self.rows, self.values.shape[1])).astype(np.int16)
        index = np.argmax(rows[:, :, None] == palettes[:, None, :], axis=2).astype(np.uint8)
        per_byte = 8 // self.bits
        padded = np.zeros((self.rows, self.row_bytes * per_byte), dtype=np.uint8)
        padded[:, : self.row_len] = index
        groups = padded.reshape(self.rows, self.row_bytes, per_byte)
        shifts = (np.arange(per_byte) * self.bits).astype(np.uint8)
        return np.bitwise_or.reduce(groups << shifts, axis=2).astype(np.uint8)

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        """The int8 rows back from ``pack``'s output (what the C decoder computes)."""
        per_byte = 8 // self.bits
        shifts = (np.arange(per_byte) * self.bits).astype(np.uint8)
        index = (packed[:, :, None] >> shifts) & ((1 << self.bits) - 1)
        index = index.reshape(self.rows, -1)[:, : self.row_len]
        palettes = np.broadcast_to(self.values, (self.rows, self.values.shape[1]))
        return np.take_along_axis(palettes, index.astype(np.intp), axis=1).astype(np.int8)


def choose(weight: np.ndarray) -> Palette | None:
    """The smaller of a per-layer and a per-channel palette for an int8 weight array
    ([out][...]), or None when neither holds its values or neither is smaller than int8."""
    rows = weight.reshape(len(weight), -1)
    count, row_len = rows.shape
    options = []
    layer = np.unique(rows)
    if len(layer) <= MAX_ENTRIES:
        options.append(Palette(count, row_len, index_bits(len(layer)), layer.astype(np.int8)[None, :]))
    channels = [np.unique(row) for row in rows]
    entries = max(len(values) for values in channels)
    if count > 1 and entries <= MAX_ENTRIES:
        table = np.array([np.pad(v, (0, entries - len(v)), mode="edge") for v in channels], dtype=np.int8)
        options.append(Palette(count, row_len, index_bits(entries), table))
    best = min(options, key=lambda p: p.stored_bytes, default=None)
    return best if best is not None and best.stored_bytes < rows.size else None


def c_storage(name: str, palette: Palette, rows: np.ndarray, dsp_rows: np.ndarray | None) -> str:
    """Declarations of ``name``: the packed indices (in the DSP kernels' row order too, when
    ``dsp_rows`` is given), the palette and the ``hm_palette`` that ``hm_unpalette`` reads."""
    from heiti.micro.codegen import array_decl

    index = array_decl(f"{name}_index", palette.pack(rows))
    if dsp_rows is not None:
        index = (f"#if HM_DSP  /* rows in the DSP kernels' order: see dsp/hm_dsp.h */\n"
                 f"{array_decl(f'{name}_index', palette.pack(dsp_rows))}#else\n{index}#endif\n")
    step = palette.values.shape[1] if palette.per_channel else 0
    fields = [f"{name}_index", f"{name}_palette", palette.rows, palette.row_len, palette.bits, step]
    return (index + array_decl(f"{name}_palette", palette.values)
            + f"static const hm_palette {name} = {{{', '.join(map(str, fields))}}};\n")


STORED_KINDS = ("conv2d", "dense")  # operators whose C takes its weights through ops/_affine.py


def _stored(op) -> bool:
    """Dilated convolutions have their own kernels, without a palette wrapper."""
    return op.kind in STORED_KINDS and op.attrs.get("dilation", 1) == 1


CHUNK_STEP = 4  # chunks in multiples of the kernels' groups of output channels (2 DSP, 4 portable)


def layers(graph: Graph, decode_bytes: int = 0) -> dict[int, Palette]:
    """Operator index -> palette storage, for every layer where it is smaller than int8, each
    decoded in chunks of at most ``decode_bytes`` (at least four channels; grouped
    convolutions whole; 0: whole layers)."""
    budget = decode_bytes
    found = {}
    for i, op in enumerate(graph.ops):
        if _stored(op):
            palette = choose(op.arrays["weight"])
            if palette is None:
                continue
            chunk = max(CHUNK_STEP, budget // palette.row_len // CHUNK_STEP * CHUNK_STEP)
            whole = not budget or op.attrs.get("groups", 1) != 1 or chunk >= palette.rows
            found[i] = replace(palette, chunk=palette.rows if whole else chunk)
    return found


def summary(graph: Graph, palettes: dict[int, Palette]) -> dict:
    """What the storage saves, for the measurements: per stored layer and in total."""
    rows = [{"index": i, "kind": graph.ops[i].kind, "bits": p.bits, "palettes": len(p.values),
             "entries": int(p.values.shape[1]), "int8_bytes": p.rows * p.row_len,
             "stored_bytes": p.stored_bytes, "chunk_channels": p.chunk,
             "decoded_bytes": p.chunk * p.row_len} for i, p in sorted(palettes.items())]
    weights = sum(op.arrays["weight"].size for op in graph.ops if op.kind in STORED_KINDS)
    # int8 weights of every conv2d and dense layer, stored as palettes or not
    stored = weights - sum(r["int8_bytes"] - r["stored_bytes"] for r in rows)
    return {"layers": rows, "weight_bytes_int8": int(weights), "weight_bytes_stored": int(stored),
            "decoded_bytes_max": max((r["decoded_bytes"] for r in rows), default=0)}
