"""PyTorch in the ONNX grid: export with torch.onnx (dynamo), import with onnx2torch if installed."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from heiti.onnxgrid.base import GridFramework, Unsupported


class PyTorchGrid(GridFramework):
    name = "pytorch"
    requires = ("torch", "onnx", "onnxscript", "onnxruntime")

    def version(self) -> str:
        import torch

        return torch.__version__

    def models(self):
        return {"tiny-cnn": lambda: _zoo("tiny-cnn", {"channels": [8, 16], "hidden": 32}, (1, 8, 8)),
                "mobilenet-v2": lambda: _zoo("mobilenet-v2", {"width": 0.35, "depth": 0.35,
                                                              "last_channels": 64}, (3, 32, 32)),
                "mlp": lambda: _mlp(),
                "svd-features": lambda: _svd_features()}

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    def export(self, model: Any, x: np.ndarray, path: Path) -> None:
        import torch

        captured = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured), \
                contextlib.redirect_stderr(captured):
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=True,
                                  external_data=False)
            except Exception as exc:  # keep the exporter's summary, not its generic advice
                summary = str(exc).split("## Exception summary", 1)[-1].strip()
                raise RuntimeError(summary) from exc

    def import_onnx(self, path: Path) -> Any:
        if importlib.util.find_spec("onnx2torch") is None:
            raise Unsupported("PyTorch has no ONNX importer of its own; onnx2torch is not installed")
        from onnx2torch import convert

        return convert(str(path)).eval()


def _zoo(name: str, params: dict[str, Any], shape: tuple[int, ...]) -> tuple[Any, np.ndarray]:
    import torch

    from heiti import registry

    torch.manual_seed(0)
    module = registry.get("model", name)(params).build(shape, 10).eval()
    return module, _example(shape)


def _mlp() -> tuple[Any, np.ndarray]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).eval(), _example((64,))


def _svd_features() -> tuple[Any, np.ndarray]:
    """Singular values as features: an operator the ONNX exporter has no translation for."""
    import torch
    from torch import nn

    class SvdFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(8, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.linalg.svdvals(x[:, 0]))

    torch.manual_seed(0)
    return SvdFeatures().eval(), _example((1, 8, 8))


def _example(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).random((2, *shape), dtype=np.float32)
