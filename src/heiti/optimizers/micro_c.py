"""C code generation for microcontrollers from a heiti micro integer graph."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import RunFailed


class MicroCParams(Params):
    check_samples: int = Field(
        32, ge=0, description="validation samples run through the host build and compared "
        "bit for bit with the golden model (0: skip the host build)")
    cortex_m4: bool = Field(True, description="compile for Cortex-M4 (when arm-none-eabi-gcc is on "
                            "PATH) and report flash, RAM and stack")
    weight_storage: Literal["dense", "palette"] = Field(
        "dense", description="palette: layers whose int8 weights take at most 16 values per layer or "
        "per output channel (after the cluster optimizer) are stored as packed 1/2/4-bit indices "
        "plus int8 palettes and decoded into the arena just before the layer runs (less flash, "
        "more RAM and instructions; docs/compression.md); dense: int8 arrays")
    decode_bytes: int = Field(
        0, ge=0, description="palette storage: the arena bytes a layer's weights are decoded into, "
        "a chunk of output channels at a time (at least 4; 0: whole layers, the fastest). Less "
        "RAM, more instructions: each chunk runs the kernel again (docs/compression.md)")


class MicroC(Optimizer):
    """Generates C99 (model.h, model.c and the int8 kernel library: no malloc, no floating
    point, one static arena laid out by the memory planner) from an integer graph."""

    name = "micro-c"
    Params = MicroCParams
    input_formats = ("micro-int8",)
    output_format = "c-int8"
    file_suffix = ""

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import numpy as np

        from heiti.micro import golden
        from heiti.micro.build import HostModel, cortex_m4_report, host_library
        from heiti.micro.codegen import generate
        from heiti.micro.graph import Graph, input_buffer
        from heiti.micro.macs import layer_table
        from heiti.micro.palette import layers, summary
        from heiti.micro.planner import plan_memory
        from heiti.micro.steps import samples

        graph = Graph.load(model.path)
        if output.exists():
            shutil.rmtree(output)
        palettes = layers(graph, self.params.decode_bytes) if self.params.weight_storage == "palette" else {}
        plan = generate(graph, output, palettes)
        details = {"input_scale": graph.input_scale, "output_scale": graph.output_scale,
                   "input_size": graph.input_size,
                   "output_size": graph.output_size,
                   "weight_bytes": graph.weight_bytes(), "layers": _named(layer_table(graph), graph),
                   **plan.summary()}
        if self.params.weight_storage == "palette":
            storage = summary(graph, palettes)
            dense_arena = storage["arena_bytes_dense"] = plan_memory(graph).arena_bytes
            details["weight_storage"] = storage
            ctx.log(f"micro-c: {len(palettes)} layers stored as palettes: weights "
                    f"{storage['weight_bytes_int8']} B -> {storage['weight_bytes_stored']} B, arena "
                    f"{dense_arena} B -> {plan.arena_bytes} B")
        if self.params.check_samples:
            val, count = samples(ctx, "val"), self.params.check_samples
            if len(graph.inputs) == 1:
                raw: Any = graph.quantize_input(val.x[:count])
                buffer = raw
            else:  # bound by the IO specification's names, one after the other on the device
                raw = [graph.quantize_input(val.inputs[spec.name][:count], name)
                       for spec, name in zip(model.io.inputs, graph.inputs, strict=True)]
                buffer = input_buffer(raw)
            host = HostModel(host_library(output), details["input_size"], details["output_size"])
            if not np.array_equal(host.predict(buffer), golden.predict(graph, raw)):
                raise RunFailed("micro-c: the host build's outputs differ from the golden model's")
            details["host_equals_golden_samples"] = len(raw)
        if self.params.cortex_m4:
            details["cortex_m4"] = cortex_m4_report(output)
            if "flash_bytes" in details["cortex_m4"]:
                m4 = details["cortex_m4"]
                ctx.log(f"micro-c: Cortex-M4 flash {m4['flash_bytes']} B, RAM {m4['ram_bytes']} B "
                        f"(arena {plan.arena_bytes} B, stack <= {m4['stack_bytes']} B)")
        ctx.log(f"micro-c: arena {plan.arena_bytes} B (lower bound {plan.lower_bound} B, "
                f"naive {plan.naive_bytes} B)")
        return Artifact(path=output, format=self.output_format, io=model.io,
                        provenance=Provenance(producer=f"optimizer:{self.name}", details=details))


def _named(layers: list[dict], graph) -> list[dict]:
    """Each layer with the model's own name of its output (the ONNX node's name), so that
    reports put host profiles of the same model beside it."""
    names = graph.info.get("names", {})
    return [{**row, "name": names.get(row["output"], row["output"])} for row in layers]
