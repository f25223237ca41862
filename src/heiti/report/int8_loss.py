"""Runs compared side by side (a comparison, a matrix): int8 runs whose primary metric falls
more than the margin below a float run of the same data, with the likely cause."""

from __future__ import annotations

from heiti.core import cpu
from heiti.core.formats import Format
from heiti.pipeline.measurements import Measurements


def int8_losses(docs: list[Measurements]) -> list[str]:
    """One warning per int8 run that loses against its float parent: the float run on the same
    samples, the one with the same runtime first."""
    floats = [d for d in docs if not Format.parse(d.model.format).quantized]
    warnings = []
    for doc in docs:
        if not Format.parse(doc.model.format).quantized:
            continue
        same_data = [f for f in floats if _samples(f) == _samples(doc)]
        same_data.sort(key=lambda f: f.runtime["type"] != doc.runtime["type"])
        if not same_data:
            continue
        parent, quality = same_data[0], doc.quality
        warning = cpu.int8_loss(
            quality.primary_metric, parent.quality.primary, quality.primary, quality.higher_is_better,
            doc.environment["host"].get("int8_instructions", cpu.UNKNOWN), _reduce_range(doc))
        if warning:
            warnings.append(f"'{doc.name}' against '{parent.name}': {warning}")
    return warnings


def _samples(doc: Measurements) -> tuple[str, str, str, int]:
    data = doc.dataset
    return data.type, repr(sorted(data.parameters.items())), data.split, data.samples


def _reduce_range(doc: Measurements) -> bool | None:
    """ONNX Runtime's quantizer setting when the chain used it (older runs: not recorded)."""
    for step in doc.model.chain:
        if step.producer == "optimizer:ort-quantize" and "reduce_range" in step.details:
            return bool(step.details["reduce_range"])
    return None
