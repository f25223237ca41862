"""What the optimizers that change a PyTorch network in place share (prune, cluster):
fine-tuning settings, and writing the result as a zoo model the next steps can rebuild."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer
from heiti.errors import InputError

# sidecar fields that rebuild the network (torch_tools.load_module)
ARCHITECTURE_FIELDS = ("architecture", "input_shape", "num_classes", "pruning_history")


class FineTuneParams(Params):
    epochs: int = Field(3, ge=0, description="fine-tuning epochs on the task's own loss after each "
                        "step (0: none)")
    lr: float = Field(1e-3, gt=0, description="fine-tuning learning rate (Adam, cosine schedule)")
    batch_size: int = Field(32, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    patience: int | None = Field(None, ge=1, description="early stopping: epochs without improvement")
    threads: int = Field(1, ge=0, description="CPU threads for fine-tuning (0: PyTorch's default)")


class TorchToTorch(Optimizer):
    """Base of optimizers that take a zoo PyTorch model and give one back."""

    input_formats = ("torch",)
    output_format = "torch"
    file_suffix = ".pt"
    requires = ("torch",)
    extra = "torch"

    def save(self, module: Any, output: Path, model: Artifact, started: float,
             details: dict[str, Any]) -> Artifact:
        """Write ``module``'s weights to ``output``, described so that the next step rebuilds it."""
        import torch

        torch.save(module.state_dict(), output)
        kept = {k: v for k, v in model.provenance.details.items() if k in ARCHITECTURE_FIELDS}
        return Artifact(
            path=output, format=self.output_format, io=model.io.model_copy(deep=True),
            provenance=Provenance(producer=f"optimizer:{self.name}",
                                  parameters=self.params.model_dump(mode="json"),
                                  tool_versions={"torch": torch.__version__},
                                  duration_s=time.perf_counter() - started,
                                  details={**kept, **details}))


def modules_by_name(module: Any, wanted: Any, who: str) -> dict[str, Any]:
    """The network's modules by name, once every name in ``wanted`` is known to be one."""
    found = dict(module.named_modules())
    unknown = sorted(set(wanted) - set(found))
    if unknown:
        raise InputError(f"{who}: the model has no module named {', '.join(unknown)}",
                         hint=f"module names: {', '.join(n for n in found if n)}")
    return found
