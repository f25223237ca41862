"""Runtimes share one meaning of `threads` and undo the process-wide state they change."""

from __future__ import annotations

import os

import pytest

from heiti import registry


def test_every_runtime_with_threads_means_one_per_core_by_zero():
    for name, cls in registry.components()["runtime"].items():
        if "threads" in cls.Params.model_fields:
            assert cls({"threads": 0}).thread_count() == os.cpu_count(), name
            assert cls({"threads": 3}).thread_count() == 3, name


def test_torch_runtime_restores_the_process_thread_count(trained_model_dir):
    torch = pytest.importorskip("torch", reason="needs the torch extra")
    from heiti.core.artifact import Artifact
    from heiti.runtimes.torch_runtime import TorchRuntime

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runtime = TorchRuntime({"threads": 1})
        runtime.load(Artifact.load(trained_model_dir / "model" / "model.pt"))
        assert torch.get_num_threads() == 1
        runtime.close()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
