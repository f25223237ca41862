"""scikit-learn in the ONNX grid: export with skl2onnx; there is no ONNX import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from heiti.onnxgrid.base import GridFramework


class SklearnGrid(GridFramework):
    name = "scikit-learn"
    requires = ("sklearn", "skl2onnx", "onnxruntime")

    def version(self) -> str:
        import sklearn

        return sklearn.__version__

    def models(self):
        return {"mlp": lambda: _fit("mlp"), "random-forest": lambda: _fit("random-forest")}

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        return model.predict_proba(x).astype(np.float32)

    def onnx_output(self, outputs: list[Any]) -> np.ndarray:
        return np.asarray(outputs[1])  # [labels, probabilities]

    def export(self, model: Any, x: np.ndarray, path: Path) -> None:
        from skl2onnx import to_onnx

        onnx_model = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
        path.write_bytes(onnx_model.SerializeToString())


def _fit(kind: str) -> tuple[Any, np.ndarray]:
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)
    model = (MLPClassifier((32,), max_iter=60, random_state=0) if kind == "mlp"
             else RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few iterations on purpose: convergence is not the point
        model.fit(x[:600], y[:600])
    return model, x[600:616]
