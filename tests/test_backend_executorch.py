"""ExecuTorch: PyTorch -> .pte with the XNNPACK delegate (float and int8), run by its bindings."""

import pytest

from conftest import agreement, measure

pytest.importorskip("executorch", reason='ExecuTorch not installed: pip install "heiti[executorch]"')


def test_fp32_agrees_with_pytorch_and_int8_stays_close(workdir, torch_reference):
    fp32 = measure(workdir, "et-fp32", [{"type": "executorch-export"}], {"type": "executorch"})
    # batch 8 over 359 samples: the last batch is padded to the program's static batch
    int8 = measure(workdir, "et-int8", [{"type": "executorch-export", "parameters": {
        "quantization": "int8", "batch": 8, "calibration_samples": 96}}], {"type": "executorch"},
        batch_size=8)
    assert agreement(fp32, torch_reference) >= 0.99
    assert int8["performance"]["samples"] == 359 and int8["performance"]["batches"] == 45
    assert fp32["quality"]["metrics"]["accuracy"] - int8["quality"]["metrics"]["accuracy"] <= 0.015
    assert int8["model"]["format"] == "pte-int8"
