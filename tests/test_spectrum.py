"""Spectra of sensor windows: the definition against hand-made signals, the datasets'
'spectrum' parameter, the flow transform, and an autoencoder that finds bearing faults in
spectra that it cannot find in raw windows."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from conftest import run_cli, write_scenario
from heiti.datasets.csv_windows import CsvWindows
from heiti.datasets.sensor_windows import SensorWindows
from heiti.errors import InputError
from heiti.flows.stage import Item
from heiti.scenario import ComponentSpec, instantiate
from heiti.signal.spectrum import SpectrumParams, spectrum, window_function

LENGTH = 64


def sine(cycles: float, amplitude: float = 1.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * cycles * np.arange(LENGTH) / LENGTH)


@pytest.mark.parametrize("window", ["hann", "hamming", "none"])
def test_a_sine_shows_as_half_its_amplitude_in_its_bin(window):
    values = spectrum(sine(5, amplitude=0.8)[None, None], SpectrumParams(window=window, log=False))
    assert values.shape == (1, 1, LENGTH // 2)  # DC up to just below Nyquist
    assert values[0, 0, 5] == pytest.approx(0.4, rel=1e-5)
    if window == "none":  # a whole number of cycles leaks nowhere without a window
        assert np.delete(values[0, 0], 5).max() < 1e-6


def test_window_functions_are_the_periodic_ones():
    assert window_function("hann", 8) == pytest.approx(np.hanning(9)[:-1])
    assert window_function("hamming", 8) == pytest.approx(np.hamming(9)[:-1])
    assert window_function("none", 8) == pytest.approx(np.ones(8))


def test_log_and_bands_pool_the_bins():
    params = SpectrumParams(window="none", log=False)
    signal = (sine(3, 0.6) + sine(20, 0.2))[None]
    bins = spectrum(signal, params)[0]
    pooled = spectrum(signal, SpectrumParams(window="none", log=False, bands=4))[0]
    assert pooled == pytest.approx(bins.reshape(4, 8).mean(axis=1), abs=1e-7)
    assert pooled[0] == pytest.approx(0.3 / 8) and pooled[2] == pytest.approx(0.1 / 8)
    logged = spectrum(signal, SpectrumParams(window="none", bands=4, floor=0.01))[0]
    assert logged == pytest.approx(np.log(pooled + 0.01 * pooled.mean()), rel=1e-5)


def test_the_log_spectrum_of_scaled_data_only_shifts():
    """The floor follows the window's level, so a change of units (g to mg) adds a constant."""
    window = SensorWindows({"windows": 40, "length": LENGTH}).split("test").x[:2]
    shift = spectrum(window * 1000, SpectrumParams()) - spectrum(window, SpectrumParams())
    assert shift == pytest.approx(np.full_like(shift, np.log(1000)), abs=1e-4)
    assert np.isfinite(spectrum(np.zeros((1, 2, LENGTH)), SpectrumParams())).all()


def test_windows_datasets_take_a_spectrum(tmp_path):
    raw = SensorWindows({"windows": 40, "length": LENGTH})
    spectra = SensorWindows({"windows": 40, "length": LENGTH, "spectrum": {"bands": 8}})
    assert spectra.input_shape == (3, 8) and raw.input_shape == (3, LENGTH)
    expected = spectrum(raw.split("test").x, SpectrumParams(bands=8))
    assert spectra.split("test").x == pytest.approx(expected)

    rows = ["window,label,a"] + [f"w{w},normal,{v}" for w in range(4) for v in sine(w + 2)]
    path = tmp_path / "machine.csv"
    path.write_text("\n".join(rows) + "\n")
    data = CsvWindows({"path": path, "spectrum": {"window": "none", "log": False}, "val_fraction": 0.25,
                       "test_fraction": 0.25})
    everything = data.split("all")
    assert everything.x.shape == (4, 1, LENGTH // 2)
    assert [int(np.argmax(x[0])) for x in everything.x] == [2, 3, 4, 5]


def test_more_bands_than_bins_is_bad_input():
    with pytest.raises(InputError, match="bands is 40, but windows of 64 samples have only 32"):
        SensorWindows({"windows": 40, "length": LENGTH, "spectrum": {"bands": 40}}).split("test")


def test_flow_transform_computes_the_datasets_features(tmp_path):
    dataset = SensorWindows({"windows": 40, "length": LENGTH, "spectrum": {"window": "hamming", "bands": 8}})
    stage = instantiate("transform", ComponentSpec(type="spectrum"), "preprocess[0]", tmp_path)
    stage.match_dataset(dataset, "preprocess[0]")
    assert (stage.params.window, stage.params.bands) == ("hamming", 8)
    window = SensorWindows({"windows": 40, "length": LENGTH}).split("test").x[:1]
    item = next(iter(stage.process(Item(seq=0, source="s", tensors={"audio": window}))))
    assert item.tensors["input"] == pytest.approx(dataset.split("test").x[:1])
    mono = next(iter(stage.process(Item(seq=1, source="s", tensors={"audio": window[:, 0]}))))
    assert mono.tensors["input"].shape == (1, 1, 8)

    clash = instantiate("transform", ComponentSpec(type="spectrum", parameters={"bands": 4}),
                        "preprocess[0]", tmp_path)
    with pytest.raises(InputError, match="bands is 4, but the model was trained on dataset"):
        clash.match_dataset(dataset, "preprocess[0]")


def needs_cmsisdsp() -> None:
    pytest.importorskip("cmsisdsp", reason="needs the audio extra (cmsisdsp)")


@pytest.mark.parametrize("window", ["hann", "hamming", "none"])
@pytest.mark.parametrize("amplitude", [0.8, 1000.0])
def test_the_q15_spectrum_puts_a_sine_in_its_bin_at_its_level(window, amplitude):
    """Stated tolerance: each q15 magnitude within 1e-3 x the amplitude of the float one
    (each channel is scaled to full scale first, so the units do not matter)."""
    needs_cmsisdsp()
    signal = (sine(5, amplitude) + sine(12, amplitude / 4))[None, None]
    floating = spectrum(signal, SpectrumParams(window=window, log=False))
    fixed = spectrum(signal, SpectrumParams(window=window, log=False, implementation="cmsis-q15"))
    assert fixed.shape == floating.shape == (1, 1, LENGTH // 2)
    assert fixed[0, 0, 5] == pytest.approx(amplitude / 2, rel=1e-3)
    assert fixed[0, 0, 12] == pytest.approx(amplitude / 8, rel=1e-3)
    assert np.abs(fixed - floating).max() <= 1e-3 * amplitude


def test_the_q15_log_spectrum_of_sensor_windows_stays_near_the_float_one():
    """Stated tolerance (docs/anomaly.md has the full-size figures): mean |difference| of
    the log spectrum under 0.02, max under 0.3; quiet bins near the floor differ most."""
    needs_cmsisdsp()
    windows = SensorWindows({"windows": 100, "length": LENGTH, "kinds": ["bearing"]}).split("all").x
    for bands in (None, 8):
        floating = spectrum(windows, SpectrumParams(bands=bands))
        fixed = spectrum(windows, SpectrumParams(bands=bands, implementation="cmsis-q15"))
        difference = np.abs(fixed - floating)
        assert difference.mean() < 0.02 and difference.max() < 0.3, (bands, difference)
    assert np.isfinite(spectrum(np.zeros((1, 2, LENGTH)), SpectrumParams(implementation="cmsis-q15"))).all()


def test_a_dataset_and_the_flow_transform_compute_the_same_q15_features(tmp_path):
    needs_cmsisdsp()
    dataset = SensorWindows({"windows": 40, "length": LENGTH,
                             "spectrum": {"bands": 8, "implementation": "cmsis-q15"}})
    stage = instantiate("transform", ComponentSpec(type="spectrum"), "preprocess[0]", tmp_path)
    stage.match_dataset(dataset, "preprocess[0]")
    assert stage.params.implementation == "cmsis-q15"
    windows = SensorWindows({"windows": 40, "length": LENGTH}).split("test").x
    features = dataset.split("test").x
    assert not np.array_equal(features, spectrum(windows, SpectrumParams(bands=8)))  # not the float path
    for i in range(3):
        item = next(iter(stage.process(Item(seq=i, source="s", tensors={"audio": windows[i : i + 1]}))))
        assert np.array_equal(item.tensors["input"], features[i : i + 1])


def test_the_q15_spectrum_needs_a_length_arm_rfft_q15_computes():
    needs_cmsisdsp()
    odd = SensorWindows({"windows": 40, "length": 48, "spectrum": {"implementation": "cmsis-q15"}})
    with pytest.raises(InputError, match="power-of-two length from 32 to 8192 samples.*these have 48"):
        odd.split("test")


def test_the_q15_spectrum_without_cmsisdsp_names_the_extra(tmp_path, monkeypatch, capsys):
    """cmsisdsp is installed here: a None entry in sys.modules makes its import fail as on a
    machine without it (the only way to have both in one test run)."""
    monkeypatch.setitem(sys.modules, "cmsisdsp", None)
    data = {"name": "q15", "build_dir": "b/q15", "seed": 0,
            "dataset": {"type": "sensor-windows", "parameters": {
                "windows": 40, "length": LENGTH, "spectrum": {"implementation": "cmsis-q15"}}},
            "model": {"type": "autoencoder", "parameters": {"variant": "dense", "hidden": [8], "latent": 2},
                      "train": {"epochs": 1}},
            "optimizers": [], "runtime": {"type": "torch"}, "report": {"enabled": False}}
    assert run_cli("run", write_scenario(tmp_path, data, "q15.yml")) == 2
    said = capsys.readouterr()
    assert "cmsisdsp" in said.err + said.out and 'heiti[audio]' in said.err + said.out
    assert "Traceback" not in said.err + said.out


def test_autoencoder_finds_bearing_faults_in_spectra_not_in_raw_windows(tmp_path):
    """A weak defect tone is under the noise in the waveform and a line in the spectrum
    (docs/anomaly.md has the full-size figures)."""
    scores = {}
    for name, extra in (("raw", {}), ("spectrum", {"spectrum": {"window": "hann"}})):
        data = {"name": name, "build_dir": f"b/{name}", "seed": 0,
                "dataset": {"type": "sensor-windows", "parameters": {
                    "windows": 800, "length": 128, "kinds": ["bearing"], **extra}},
                "model": {"type": "autoencoder", "parameters": {"variant": "dense", "hidden": [64],
                                                                "latent": 8},
                          "train": {"epochs": 30, "lr": 0.01, "batch_size": 32, "patience": None}},
                "optimizers": [], "runtime": {"type": "torch"},
                "test": {"warmup": 0, "batch_size": 64}, "report": {"enabled": False}}
        assert run_cli("run", write_scenario(tmp_path, data, f"{name}.yml")) == 0
        measured = json.loads((tmp_path / "b" / name / "measurements.json").read_text())
        scores[name] = measured["quality"]["metrics"]["roc_auc"]
    assert scores["spectrum"] >= 0.9 and scores["spectrum"] > scores["raw"] + 0.2, scores
