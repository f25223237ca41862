"""A description of the machine and software a measurement was taken with."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

from heiti.core.cpu import int8_instructions

# distributions whose versions matter for a measurement, when they are loaded
FRAMEWORKS = ("heiti", "numpy", "torch", "onnx", "onnxruntime", "onnxscript", "scikit-learn",
              "apache-tvm", "tvm", "openvino", "nncf", "iree-base-runtime", "iree-base-compiler",
              "ai-edge-litert", "litert-torch", "executorch", "tflite-micro", "pydantic")
_MODULES = {"scikit-learn": "sklearn", "apache-tvm": "tvm", "iree-base-runtime": "iree.runtime",
            "iree-base-compiler": "iree.compiler", "ai-edge-litert": "ai_edge_litert",
            "litert-torch": "litert_torch", "tflite-micro": "tflite_micro"}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def framework_versions() -> dict[str, str]:
    """Versions of the frameworks this process has imported."""
    versions = {}
    for dist in FRAMEWORKS:
        module = _MODULES.get(dist, dist.replace("-", "_"))
        if dist == "heiti" or module in sys.modules:
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return versions


def host_environment() -> dict[str, Any]:
    import psutil

    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "int8_instructions": int8_instructions(),  # decides how x86 int8 kernels round
        "memory_total_mb": round(psutil.virtual_memory().total / 2**20),
        "python": platform.python_version(),
        "frameworks": framework_versions(),
    }
