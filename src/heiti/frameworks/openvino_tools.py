"""OpenVINO helpers shared by its optimizers and runtime: reading and writing IR folders.

An OpenVINO artifact is a folder holding ``model.xml`` (the graph) and ``model.bin``
(the weights), so that the pair is hashed, sized and moved as one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.formats import Format
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.frameworks.native import fresh_dir

IR_FILE = "model.xml"
SUFFIX = ".openvino"


def ir_path(model: Artifact) -> Path:
    """The graph file: the artifact folder's, or a user's ``.xml`` file itself."""
    path = Path(model.path)
    return path if path.suffix == ".xml" else path / IR_FILE


def iospec(xml: Path) -> IOSpec:
    """The IO specification of an IR file (dynamic dimensions as -1)."""
    import openvino as ov

    ov_model = ov.Core().read_model(str(xml))

    def spec(port: Any) -> TensorSpec:
        shape = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
        return TensorSpec(name=port.get_any_name(), shape=shape,
                          dtype=str(np.dtype(port.get_element_type().to_dtype())))

    return IOSpec(inputs=[spec(p) for p in ov_model.inputs],
                  outputs=[spec(p) for p in ov_model.outputs])


def read(model: Artifact, batch: int | None = None) -> Any:
    """The artifact (ONNX file or IR folder) as an ``openvino.Model``; ``batch`` fixes the
    batch dimension of every input (None: leave the shapes as they are)."""
    import openvino as ov

    if Format.parse(model.format).family == "openvino":
        ov_model = ov.Core().read_model(str(ir_path(model)))
    else:
        ov_model = ov.convert_model(str(model.path))
    if batch is not None:
        ov_model.reshape({spec.name: spec.with_batch(batch) for spec in model.io.inputs})
    return ov_model


def save(ov_model: Any, output: Path) -> None:
    """Write the IR folder (float32 weights kept as they are)."""
    import openvino as ov

    with fresh_dir(output) as tmp:
        ov.save_model(ov_model, str(tmp / IR_FILE), compress_to_fp16=False)


def version() -> dict[str, str]:
    import openvino as ov

    return {"openvino": ov.__version__.split("-")[0]}
