"""The model stage: a scenario's artifact on a scenario's runtime and target.

The runtime and target are the scenario's own components (``target.open`` gives the
executor, local or remote), so a flow runs a model wherever a scenario can test it.
Inputs are bound by name and quantized as the model declares; outputs are dequantized
and get the model's own post-processing, exactly as ``heiti test`` does.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from heiti import postprocess
from heiti.core.artifact import Artifact
from heiti.core.iospec import TensorSpec
from heiti.core.steps import Runtime, Target
from heiti.flows.stage import Item, Transform
from heiti.pipeline.binding import check_inputs, input_names


class ModelStage(Transform):
    """Runs each item through a model artifact (not a registered transform: the flow file's
    ``model`` section makes it)."""

    def __init__(self, artifact: Artifact, runtime: Runtime, target: Target):
        super().__init__()
        self.artifact, self.runtime, self.target = artifact, runtime, target
        self.executor: Runtime | None = None
        self._names: dict[str, str] = {}  # model input -> item tensor, from the first item

    def open(self) -> None:
        self.executor = self.target.open(self.runtime, self.artifact)

    def process(self, item: Item) -> Iterator[Item]:
        io = self.artifact.io
        if not self._names:  # the first item's tensors must fit the model; later ones are alike
            specs = [TensorSpec(name=k, shape=[-1, *v.shape[1:]], dtype=v.dtype.name)
                     for k, v in item.tensors.items()]
            check_inputs(specs, io, hint="set the source's or the preprocessing's parameters to "
                                         "match the model")
            self._names = input_names(specs, io)
        inputs = {model: item.tensors[given] for model, given in self._names.items()}
        feed = {spec.name: spec.quantize(inputs[spec.name]) if spec.raw_integers
                else np.asarray(inputs[spec.name], dtype=spec.dtype) for spec in io.inputs}
        outputs = self.executor.outputs(self.executor.infer(self.executor.prepare(feed)))
        real = {spec.name: spec.dequantize(outputs[spec.name]) for spec in io.outputs}
        item.tensors = postprocess.apply(io.postprocess, real, inputs)
        item.class_names = io.class_names
        yield item

    def close(self) -> None:
        if self.executor is not None:
            self.executor.close()
            self.executor = None
