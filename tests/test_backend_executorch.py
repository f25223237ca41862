"""ExecuTorch: PyTorch -> .pte with the XNNPACK delegate (float and int8), run by its bindings."""

import pytest

from conftest import agreement, measure

pytest.importorskip("executorch", reason='ExecuTorch not installed: pip install "heiti[executorch]"')


def test_fp32_agrees_with_pytorch_and_int8_stays_close(workdir, torch_reference):
    # batch 8 over 359 samples: the last batch is padded to the program's static batch
    fp32 = measure(workdir, "et-fp32", [{"type": "executorch-export", "parameters": {"batch_size": 8}}],
                   {"type": "executorch"}, batch_size=8)
    int8 = measure(workdir, "et-int8", [{"type": "executorch-export",
                                         "parameters": {"quantization": "int8"}}], {"type": "executorch"})
    assert agreement(fp32, torch_reference) >= 0.99
    assert fp32["performance"]["samples"] == 359
    assert fp32["quality"]["accuracy"] - int8["quality"]["accuracy"] <= 0.015
    assert int8["model"]["format"] == "pte-int8"
