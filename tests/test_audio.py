"""Audio: the Speech Commands layout on WAV files written here, broken files, espeak-ng
synthesis (determinism, cache), and MFCC / log-mel features in floating and fixed point."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, write_scenario

soundfile = pytest.importorskip("soundfile", reason="needs the audio extra")
pytest.importorskip("librosa", reason="needs the audio extra")

from heiti.audio.features import FeatureParams, extract  # noqa: E402
from heiti.datasets.speech_commands import SpeechCommands  # noqa: E402
from heiti.errors import InputError  # noqa: E402

RATE = 16000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (Debian)")


def tone(freq: float, seconds: float = 0.5, rate: int = RATE, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (0.4 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def speech_commands_tree(root: Path, per_word: int = 6) -> Path:
    """yes/no as targets, cat as another word, background noise and the two lists."""
    words = {"yes": 400.0, "no": 900.0, "cat": 2000.0}
    for word, freq in words.items():
        (root / word).mkdir(parents=True)
        for i in range(per_word):
            soundfile.write(root / word / f"spk{i}_nohash_0.wav", tone(freq, seed=i), RATE, subtype="PCM_16")
    (root / "_background_noise_").mkdir()
    noise = np.random.default_rng(9).normal(0, 0.1, 5 * RATE).astype(np.float32)
    soundfile.write(root / "_background_noise_" / "white.wav", noise, RATE, subtype="PCM_16")
    (root / "validation_list.txt").write_text("yes/spk0_nohash_0.wav\nno/spk0_nohash_0.wav\n"
                                              "cat/spk0_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\n"
                                           "cat/spk1_nohash_0.wav\n")
    return root


def test_speech_commands_layout_lists_unknown_and_silence(tmp_path):
    speech_commands_tree(tmp_path / "sc")
    ds = SpeechCommands({"path": "sc", "words": ["yes", "no"], "calibration_size": 4}, base_dir=tmp_path)
    assert ds.class_names == ["yes", "no", "unknown", "silence"]
    test, val, train = ds.split("test"), ds.split("val"), ds.split("train")
    assert sorted(i for i in test.ids if not i.startswith("silence")) == [
        "cat/spk1_nohash_0.wav", "no/spk1_nohash_0.wav", "yes/spk1_nohash_0.wav"]
    assert "yes/spk0_nohash_0.wav" in val.ids and "yes/spk0_nohash_0.wav" not in train.ids
    # 4 files per word in train: unknown and silence are sized like an average word
    assert np.bincount(train.truth).tolist() == [4, 4, 4, 4]
    assert train.x.shape[1:] == (1, 49, 10) and train.x.dtype == np.float32
    # a 400 Hz tone and a 900 Hz one give different features; silence is quieter than words
    yes, no = (train.x[train.truth == k].mean(axis=0) for k in (0, 1))
    assert np.abs(yes - no).mean() > 1.0
    # silence: background windows at random gains, so their energy (c0) varies
    assert np.std(train.x[train.truth == 3][:, 0, :, 0].mean(axis=1)) > 0.5


def test_speech_commands_without_lists_splits_by_speaker(tmp_path):
    root = speech_commands_tree(tmp_path / "sc", per_word=30)
    (root / "validation_list.txt").unlink()
    (root / "testing_list.txt").unlink()
    ds = SpeechCommands({"path": str(root), "words": ["yes", "no"], "unknown_ratio": 0})
    splits = {name: {i.split("/")[1] for i in ds.split(name).ids if "/spk" in i}
              for name in ("train", "val", "test")}
    assert splits["train"] and splits["val"] and splits["test"]
    assert not (splits["train"] & splits["test"]) and not (splits["train"] & splits["val"])
    assert ds.class_names == ["yes", "no", "silence"]


def test_speech_commands_resamples_other_rates_or_refuses(tmp_path):
    root = speech_commands_tree(tmp_path / "sc")
    soundfile.write(root / "yes" / "spk2_nohash_0.wav", tone(400, rate=8000), 8000, subtype="PCM_16")
    ds = SpeechCommands({"path": str(root), "words": ["yes", "no"]})
    assert len(ds.split("all")) > 0
    strict = SpeechCommands({"path": str(root), "words": ["yes", "no"], "resample": False})
    with pytest.raises(InputError, match=r"spk2_nohash_0.wav' is sampled at 8000 Hz"):
        strict.split("train")


def _corrupt(root: Path) -> str:
    (root / "no" / "spk3_nohash_0.wav").write_bytes(b"not a wav file at all" * 4)
    return "no/spk3_nohash_0.wav"


def _truncated(root: Path) -> str:
    file = root / "no" / "spk3_nohash_0.wav"
    file.write_bytes(file.read_bytes()[:3000])
    return "no/spk3_nohash_0.wav"


def _stereo(root: Path) -> str:
    stereo = np.stack([tone(900), tone(900)], axis=1)
    soundfile.write(root / "no" / "spk3_nohash_0.wav", stereo, RATE, subtype="PCM_16")
    return "no/spk3_nohash_0.wav"


def _empty_folder(root: Path) -> str:
    for file in (root / "cat").iterdir():
        file.unlink()
    return "cat"


def _header_only(root: Path) -> str:
    file = root / "yes" / "spk4_nohash_0.wav"
    soundfile.write(file, np.zeros(0, dtype=np.float32), RATE, subtype="PCM_16")
    return "yes/spk4_nohash_0.wav"


@pytest.mark.parametrize("damage", [_corrupt, _truncated, _stereo, _empty_folder, _header_only])
def test_bad_audio_is_named_with_exit_2_and_no_traceback(tmp_path, capsys, damage):
    root = speech_commands_tree(tmp_path / "sc")
    named = damage(root)
    scenario = write_scenario(tmp_path, {
        "name": "bad", "build_dir": "build",
        "dataset": {"type": "speech-commands", "parameters": {"path": "sc", "words": ["yes", "no"]}},
        "model": {"type": "ds-cnn", "parameters": {"channels": 8, "blocks": 1},
                  "train": {"epochs": 1}},
        "runtime": {"type": "torch"}})
    assert run_cli("train", scenario) == 2
    err = capsys.readouterr().err
    assert str(root / named) in err and "Traceback" not in err


@needs_espeak
def test_synthetic_keywords_are_deterministic_and_cached(tmp_path):
    from heiti.datasets.synthetic_keywords import SyntheticKeywords

    params = {"words": ["yes", "no"], "unknown_words": ["cat"], "voices": ["en-us", "en-gb+f2", "en-029"],
              "speeds": [160], "pitches": [50], "copies": 2, "cache_dir": "cache", "seed": 1}
    first = SyntheticKeywords(params, base_dir=tmp_path)
    x = first.split("all").x
    cached = sorted((tmp_path / "cache").glob("*.wav"))
    assert len(cached) == 9  # 3 words x 3 voices x 1 speed x 1 pitch
    stamps = [f.stat().st_mtime_ns for f in cached]
    again = SyntheticKeywords(params, base_dir=tmp_path)
    assert np.array_equal(again.split("all").x, x)  # same seed, same clips and features
    assert [f.stat().st_mtime_ns for f in cached] == stamps  # nothing spoken twice
    assert first.class_names == ["yes", "no", "unknown", "silence"]
    assert {i.split("/")[1] for i in first.split("test").ids if "/" in i and not i.startswith("silence")
            }.isdisjoint({i.split("/")[1] for i in first.split("train").ids if not i.startswith("silence")})
    other = SyntheticKeywords(dict(params, seed=2), base_dir=tmp_path).split("all").x
    assert not np.array_equal(other, x)


@needs_espeak
def test_missing_espeak_names_the_debian_package(tmp_path, monkeypatch):
    from heiti.datasets.synthetic_keywords import SyntheticKeywords

    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # a PATH without espeak-ng, as on a machine lacking it
    ds = SyntheticKeywords({"cache_dir": str(tmp_path / "c")})
    with pytest.raises(InputError) as caught:
        ds.split("train")
    assert "espeak-ng" in caught.value.message and "apt-get install espeak-ng" in caught.value.hint


@needs_espeak
def test_unknown_voice_is_bad_input(tmp_path):
    from heiti.datasets.synthetic_keywords import SyntheticKeywords

    ds = SyntheticKeywords({"words": ["yes"], "unknown_words": ["no"], "voices": ["xx-nosuchvoice"],
                            "pitches": [30, 50, 70], "speeds": [160], "cache_dir": str(tmp_path)})
    with pytest.raises(InputError, match="xx-nosuchvoice"):
        ds.split("train")


def speech_like(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A vowel-like harmonic sound with noise, as a stand-in for speech in feature tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 40 * np.sin(2 * np.pi * 2 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12)) * np.hanning(len(t))
    return (0.3 * voiced / np.abs(voiced).max() + rng.normal(0, 0.01, len(t))).astype(np.float32)


def test_feature_shapes_and_parameters():
    clips = np.stack([speech_like(seed=s) for s in range(2)])
    mfcc = extract(clips, FeatureParams())
    assert mfcc.shape == (2, 1, 49, 10) and mfcc.dtype == np.float32
    logmel = extract(clips, FeatureParams(kind="log-mel", window=400, hop=160, mel_bands=32))
    assert logmel.shape == (2, 1, 98, 32)
    with pytest.raises(ValueError, match="power-of-two"):
        FeatureParams(implementation="cmsis-q15", window=400)
    with pytest.raises(ValueError, match="MFCC only"):
        FeatureParams(implementation="cmsis-q15", kind="log-mel")
    with pytest.raises(ValueError, match="half the sample rate"):
        FeatureParams(fmax=9000)


# benchmarks/feature_extraction.py measures on clean speech-like clips a mean difference of
# 0.06, 99th percentile 0.47, max 0.88 (c0); on noisy espeak-ng words the quiet frames'
# tail is longer (docs/keyword-spotting.md has both tables). The bounds leave room.
def test_fixed_point_mfcc_stays_close_to_librosa():
    pytest.importorskip("cmsisdsp", reason="needs the audio extra (cmsisdsp)")
    clips = np.stack([speech_like(seed=s) for s in range(10)])
    floating = extract(clips, FeatureParams())
    fixed = extract(clips, FeatureParams(implementation="cmsis-q15"))
    difference = np.abs(floating - fixed)
    assert difference.mean() < 0.3
    assert np.percentile(difference, 99) < 2.0
    # Q8.7: every fixed-point value is an exact multiple of 1/128
    assert np.array_equal(fixed * 128, np.rint(fixed * 128))
    # the same clip, as a device would see it, gives the same integers again
    assert np.array_equal(fixed, extract(clips, FeatureParams(implementation="cmsis-q15")))


def test_int8_features_are_offset_bytes_times_the_scale():
    clips = np.stack([speech_like(seed=s) for s in range(3)])
    raw = extract(clips, FeatureParams())
    as_bytes = extract(clips, FeatureParams(int8_scale=0.5))
    codes = as_bytes / 0.5
    assert np.array_equal(codes, np.rint(codes)) and codes.min() >= 0 and codes.max() <= 255
    inside = np.abs(raw) < 60  # away from saturation the byte is the rounded feature + 128
    assert np.all(np.abs((codes - 128) * 0.5 - raw)[inside] <= 0.25 + 1e-6)


def test_cache_dir_honours_heiti_cache(tmp_path, monkeypatch):
    from heiti.core.files import cache_root

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("HEITI_CACHE")
    assert cache_root() == Path(os.path.expanduser("~")) / ".cache" / "heiti"
