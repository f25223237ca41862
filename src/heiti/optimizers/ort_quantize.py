"""int8 quantization of ONNX models with ONNX Runtime's quantization tool (QDQ format).

After quantizing, the int8 model's primary metric is compared with its float parent's on
validation samples, run by ONNX Runtime on this CPU: a loss above ``warn_points`` is logged
with its likely cause (``heiti.core.cpu``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from heiti import postprocess
from heiti.core import cpu
from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import InputError
from heiti.pipeline.binding import bind, check_inputs

AUTO = "auto"


class OrtQuantizeParams(Params):
    mode: Literal["static", "dynamic"] = Field(
        "static", description="static: weights and activations int8, ranges from calibration; "
        "dynamic: int8 weights, activation ranges computed at run time")
    per_channel: bool = Field(True, description="one weight scale per output channel")
    calibration_samples: int = Field(200, ge=1, description="samples from the calibration split")
    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    symmetric_activations: bool = Field(False, description="force activation zero point 0")
    reduce_range: Literal["auto", True, False] = Field(
        AUTO, description="7-bit weights: avoids int16 saturation in the u8 x s8 kernels of x86 "
        "CPUs without VNNI (AVX2), which otherwise costs accuracy there. auto: on when the CPU "
        "quantizing has no VNNI, off otherwise (set it for the CPU the model will run on)")
    check_samples: int = Field(
        200, ge=0, description="validation samples on which the int8 model's primary metric is "
        "compared with the float model's (0: skip the check)")
    warn_points: float = Field(
        cpu.DEFAULT_MARGIN_POINTS, ge=0, description="warn, with the likely cause, when int8 loses "
        "more than this many points (hundredths) of the task's primary metric against float")


class OrtQuantize(Optimizer):
    """Quantizes an ONNX model to int8 with ONNX Runtime: static mode inserts
    QuantizeLinear/DequantizeLinear pairs with ranges calibrated on samples from the
    dataset's calibration split; dynamic mode quantizes weights only."""

    name = "ort-quantize"
    Params = OrtQuantizeParams
    input_formats = ("onnx",)
    output_format = "onnx-int8"
    requires = ("onnx", "onnxruntime")
    extra = "onnx"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import onnxruntime as ort
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        started = time.perf_counter()
        instructions = cpu.int8_instructions()
        reduce_range = self._reduce_range(instructions, ctx)
        prepared = output.with_name(output.name + ".pre.onnx")
        try:
            quant_pre_process(str(model.path), str(prepared), skip_symbolic_shape=True)
            if self.params.mode == "dynamic":
                quantize_dynamic(str(prepared), str(output), per_channel=self.params.per_channel,
                                 reduce_range=reduce_range, weight_type=QuantType.QInt8)
                calibrated = 0
            else:
                calibration = ctx.dataset.split("calibration").head(self.params.calibration_samples)
                check_inputs(calibration.input_specs(), model.io, hint=ctx.dataset.fit_hint(model.io))
                calibrated = len(calibration)
                method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                          "percentile": CalibrationMethod.Percentile}[self.params.calibration_method]
                quantize_static(
                    str(prepared), str(output), _Samples(bind(calibration.inputs, model.io)),
                    quant_format=QuantFormat.QDQ, per_channel=self.params.per_channel,
                    reduce_range=reduce_range,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=method,
                    extra_options={"ActivationSymmetric": self.params.symmetric_activations},
                )
        finally:
            prepared.unlink(missing_ok=True)
        ctx.log(f"ort-quantize: {self.params.mode} int8, {calibrated} calibration samples, "
                f"reduce_range {str(reduce_range).lower()} (CPU int8 instructions: {instructions})")
        check = self._check(model, output, ctx, instructions, reduce_range)
        return Artifact(
            path=output, format=self.output_format, io=model.io,
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions={"onnxruntime": ort.__version__},
                duration_s=time.perf_counter() - started,
                details={"calibration_samples": calibrated, "reduce_range": reduce_range,
                         "int8_instructions": instructions, "float_check": check},
            ),
        )

    def _reduce_range(self, instructions: str, ctx: StepContext) -> bool:
        """The explicit setting, else on exactly where the CPU's kernels saturate."""
        if self.params.reduce_range == AUTO:
            return cpu.saturates(instructions)
        if not self.params.reduce_range and cpu.saturates(instructions):
            ctx.log(f"ort-quantize: warning: reduce_range: false, but {cpu.saturation_cause(instructions)}, "
                    "which can cost accuracy here; leave reduce_range unset (auto) or set it true "
                    "unless the model will run on a CPU with VNNI")
        return bool(self.params.reduce_range)

    def _check(self, model: Artifact, output: Path, ctx: StepContext, instructions: str,
               reduce_range: bool) -> dict[str, Any] | None:
        """The primary metric of float and int8 on validation samples; a warning when int8
        loses more than ``warn_points``."""
        if not self.params.check_samples or ctx.dataset is None:
            return None
        try:
            data = ctx.dataset.split("val").head(self.params.check_samples)
        except InputError:  # too few samples for a validation split: nothing to check on
            return None
        fixed = model.io.inputs[0].shape[0] if model.io.inputs[0].shape else -1
        if fixed > 1:  # a fixed batch: whole batches only
            data = data.head(len(data) // fixed * fixed)
        task, info = ctx.dataset.task, ctx.dataset.info()
        check_inputs(data.input_specs(), model.io, hint=ctx.dataset.fit_hint(model.io))
        bound = bind(data.inputs, model.io)  # ONNX Runtime takes exactly the model's dtypes
        inputs = {spec.name: bound[spec.name].astype(spec.dtype, copy=False) for spec in model.io.inputs}
        metrics = {}
        for precision, path in (("float", model.path), ("int8", output)):
            outputs = postprocess.apply(model.io.postprocess, _run(path, inputs, fixed if fixed > 0 else 64),
                                        inputs)
            metrics[precision] = task.evaluate(data, outputs, info).primary
        warning = cpu.int8_loss(task.primary_metric, metrics["float"], metrics["int8"],
                                task.higher_is_better, instructions, reduce_range,
                                self.params.warn_points)
        if warning:
            ctx.log(f"ort-quantize: warning: {warning}")
        return {"metric": task.primary_metric, "samples": len(data), **metrics}


def _run(path: Path, inputs: dict[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    """ONNX Runtime's outputs for all samples, ``batch`` at a time."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    count = len(next(iter(inputs.values())))
    names = [o.name for o in session.get_outputs()]
    parts = [session.run(names, {k: v[i : i + batch] for k, v in inputs.items()})
             for i in range(0, count, batch)]
    return {name: np.concatenate([p[j] for p in parts]) for j, name in enumerate(names)}


class _Samples:
    """Feeds calibration samples one at a time to ONNX Runtime's calibrator."""

    def __init__(self, inputs: dict[str, np.ndarray]):
        count = len(next(iter(inputs.values())))
        self._feeds = iter([{k: v[i : i + 1] for k, v in inputs.items()} for i in range(count)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the CalibrationDataReader protocol; one pass suffices
        pass
