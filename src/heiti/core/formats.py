"""Model formats as a small type: a family (the file kind a runtime loads) and a
precision, plus whether the code inside was compiled for another architecture.

Formats travel as strings in sidecars, component declarations and scenario files
("onnx", "onnx-int8", "onnx-fp16", "tvm-cross"); code asks this type instead of
searching those strings.
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("fp32", "fp16", "int8")
CROSS = "cross"


@dataclass(frozen=True)
class Format:
    family: str
    precision: str = "fp32"
    cross: bool = False

    @classmethod
    def parse(cls, text: str) -> Format:
        family, *qualifiers = text.split("-")
        precision = next((q for q in qualifiers if q in PRECISIONS), "fp32")
        return cls(family, precision, CROSS in qualifiers)

    @property
    def quantized(self) -> bool:
        return self.precision == "int8"

    def __str__(self) -> str:
        parts = [self.family]
        if self.precision != "fp32":
            parts.append(self.precision)
        if self.cross:
            parts.append(CROSS)
        return "-".join(parts)

    def crossed(self) -> Format:
        """The same format compiled for another architecture."""
        return Format(self.family, self.precision, True)
