"""The per-layer quantization sensitivity of heiti micro's integer graphs (measured by
micro-ptq, micro-qat and micro-import-onnx at optimize time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from heiti.report import plots
from heiti.report.content import Figure, Section, Table, num

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements


def sensitivity_sections(doc: Measurements, prefix: str) -> list[Section]:
    sections = []
    for k, step in enumerate(doc.model.chain):
        result = step.details.get("sensitivity")
        if not result:
            continue
        metric = result["metric"]
        table = Table(["layer", "operator", "tensor", "SQNR dB", f"{metric}, only this layer int8"], [
            [num(layer["index"]), layer["kind"], layer["tensor"], num(layer["sqnr_db"], 1),
             num(layer["metric_only_this_layer"])] for layer in result["layers"]])
        notes = [f"{step.producer.split(':', 1)[1]}, {result['scheme']} scheme, on {result['samples']} "
                 f"validation samples: {metric} {num(result['float'])} in float, {num(result['int8'])} "
                 "with every layer int8. SQNR compares each layer's int8 output in the deployed graph "
                 "(earlier layers' errors included) with its float value."]
        figure = Figure(f"{prefix}sensitivity{k}", "Per-layer quantization sensitivity",
                        lambda result=result: plots.layer_sensitivity(result))
        sections.append(Section("Quantization sensitivity", [table], [figure], notes))
    return sections
