"""PyTorch to ONNX through torch's exporter (torch.export + onnxscript)."""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from pathlib import Path

import numpy as np
from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import component_failures


class OnnxExportParams(Params):
    opset: int = Field(18, ge=13, le=23, description="ONNX opset version")
    dynamic_batch: bool = Field(True, description="make the batch dimension dynamic")
    check_samples: int = Field(16, ge=0, description="samples compared between PyTorch and ONNX Runtime")
    keep_debug_info: bool = Field(False, description="keep the exporter's per-node stack traces")


class OnnxExport(Optimizer):
    """Exports a PyTorch model to ONNX with named inputs and outputs, then checks that
    ONNX Runtime reproduces PyTorch's outputs on a few validation samples."""

    name = "onnx-export"
    Params = OnnxExportParams
    input_formats = ("torch",)
    output_format = "onnx"
    converts = True
    requires = ("torch", "onnx", "onnxscript", "onnxruntime")
    extra = "onnx"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import onnx
        import torch

        from heiti.frameworks import onnx_tools
        from heiti.frameworks.torch_tools import load_module

        module = load_module(model)
        inputs = [spec.name for spec in model.io.inputs]
        outputs = [spec.name for spec in model.io.outputs]
        example = tuple(torch.from_numpy(a[:2]) for a in ctx.dataset.split("val").inputs.values())
        batch_dim = torch.export.Dim("batch", min=1, max=4096)
        dynamic = tuple({0: batch_dim} for _ in example) if self.params.dynamic_batch else None
        started = time.perf_counter()
        # the exporter prints its stages and warns about optional packages: keep that out of
        # heiti's output unless it fails
        captured = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured), _quiet_torch_logs(), \
                component_failures("onnx-export", captured.getvalue):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, example, None, input_names=inputs, output_names=outputs,
                opset_version=self.params.opset, dynamic_shapes=dynamic,
                external_data=False, dynamo=True,
            )
        exported = program.model_proto
        if not self.params.keep_debug_info:
            onnx_tools.strip_debug_info(exported)
        onnx.save(exported, str(output))
        duration = time.perf_counter() - started
        max_diff = self._compare(module, output, ctx)
        io_spec = model.io.model_copy(deep=True) if self.params.dynamic_batch else model.io.static_batch(1)
        return Artifact(
            path=output, format=self.output_format, io=io_spec,
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions={"torch": torch.__version__, "onnx": onnx.__version__},
                duration_s=duration,
                details={"max_abs_diff_vs_torch": max_diff, "checked_samples": self.params.check_samples},
            ),
        )

    def _compare(self, module, output: Path, ctx: StepContext) -> float | None:
        """Largest absolute output difference between PyTorch and ONNX Runtime."""
        if self.params.check_samples == 0:
            return None
        import onnxruntime as ort
        import torch

        from heiti.frameworks.torch_training import named

        batch = 1 if not self.params.dynamic_batch else self.params.check_samples
        data = ctx.dataset.split("val").head(self.params.check_samples)
        session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        diffs = []
        for start in range(0, len(data), batch):
            chunk = [a[start : start + batch] for a in data.inputs.values()]
            got = session.run(None, dict(zip(names, chunk, strict=True)))
            with torch.no_grad():
                want = named(module(*(torch.from_numpy(c) for c in chunk)), got and range(len(got)))
            diffs += [float(np.max(np.abs(g - w.numpy()))) for g, w in zip(got, want.values(),
                                                                               strict=True)]
        return max(diffs)


@contextlib.contextmanager
def _quiet_torch_logs():
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
