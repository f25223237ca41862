"""A keyword spotter as a flow: a WAV stream through MFCC features, a DS-CNN trained here on
tone "words", posterior smoothing, into JSON lines and a real mosquitto that restarts mid-flow."""

import json
import threading
import time

import numpy as np
import pytest
import yaml

from broker import Subscriber
from conftest import run_cli, write_scenario

soundfile = pytest.importorskip("soundfile", reason="needs the audio extra")
pytest.importorskip("librosa", reason="needs the audio extra")

RATE = 16000
TONES = {"yes": 400.0, "no": 900.0, "cat": 2000.0}  # "cat" is the unknown word


def _tone(freq, seconds, rng, amplitude=0.4):
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.28))).astype(np.float32)


def _noise(seconds, rng, level=0.02):
    return rng.normal(0, level, int(seconds * RATE)).astype(np.float32)


def _speech_commands(root, per_word=24):
    rng = np.random.default_rng(0)
    for word, freq in TONES.items():
        (root / word).mkdir(parents=True)
        for i in range(per_word):
            clip, start = _noise(1.0, rng), int(rng.uniform(0.05, 0.45) * RATE)
            clip[start:start + RATE // 2] += _tone(freq, 0.5, rng, rng.uniform(0.2, 0.6))
            soundfile.write(root / word / f"spk{i}_nohash_0.wav", clip, RATE, subtype="PCM_16")
    (root / "_background_noise_").mkdir()
    soundfile.write(root / "_background_noise_" / "noise.wav", _noise(20, rng), RATE, subtype="PCM_16")


def _stream(path, words):
    """Noise with the words spoken in order, 1.5 s apart."""
    rng = np.random.default_rng(7)
    parts = [_noise(0.75, rng)]
    for word in words:
        parts += [_tone(TONES[word], 0.5, rng) + _noise(0.5, rng), _noise(1.0, rng)]
    soundfile.write(path, np.concatenate(parts), RATE, subtype="PCM_16")


@pytest.fixture(scope="module")
def spotter(tmp_path_factory):
    """A DS-CNN trained on the tone words (a few seconds), as a scenario a flow runs."""
    folder = tmp_path_factory.mktemp("kws")
    _speech_commands(folder / "sc")
    scenario = write_scenario(folder, {
        "name": "tones", "build_dir": "build",
        "dataset": {"type": "speech-commands", "parameters": {"path": "sc", "words": ["yes", "no"]}},
        "model": {"type": "ds-cnn", "parameters": {"channels": 8, "blocks": 1},
                  "train": {"epochs": 30, "lr": 0.01, "batch_size": 16, "patience": None}},
        "runtime": {"type": "torch"}})
    assert run_cli("train", scenario) == 0
    return folder


WORDS = ["yes", "no", "cat", "yes", "no"]


def _flow(folder, sinks, realtime=False):
    _stream(folder / "stream.wav", WORDS)
    flow = {"name": "kws", "source": {"type": "wav-stream", "parameters": {
                "path": "stream.wav", "window_s": 1.0, "hop_s": 0.125, "realtime": realtime}},
            "preprocess": [{"type": "mfcc"}],
            "model": {"scenario": "scenario.yml"},
            "postprocess": [{"type": "keyword-spotter", "parameters": {
                "average_s": 0.5, "threshold": 0.6, "suppression_s": 1.0}}],
            "sinks": sinks}
    path = folder / "flow.yml"
    path.write_text(yaml.safe_dump(flow), encoding="utf-8")
    return path


def test_a_wav_stream_through_the_keyword_spotter_finds_the_words(spotter, capsys):
    path = _flow(spotter, [{"type": "jsonl", "parameters": {"path": "detections.jsonl"}}])
    assert run_cli("flow", path) == 0
    detections = [json.loads(line) for line in (spotter / "detections.jsonl").read_text().splitlines()]
    assert [d["keyword"] for d in detections] == ["yes", "no", "yes", "no"]
    err = capsys.readouterr().err
    assert "real-time factor" in err


def test_every_detection_reaches_the_broker_across_a_restart(spotter, broker):
    subscriber = Subscriber(broker, "heiti/kws/#")
    path = _flow(spotter, [{"type": "mqtt", "parameters": {"url": broker.url("heiti/kws")}},
                           {"type": "jsonl", "parameters": {"path": "sent.jsonl"}}], realtime=True)

    def restart():  # while the words are being spoken
        time.sleep(2.5)
        broker.stop()
        time.sleep(1.5)
        broker.start()

    restarter = threading.Thread(target=restart)
    restarter.start()
    assert run_cli("flow", path) == 0
    restarter.join()
    sent = [json.loads(line) for line in (spotter / "sent.jsonl").read_text().splitlines()]
    messages = subscriber.wait_for(len(sent) + 1, key=lambda m: (m[0], m[1].get("seq")))
    subscriber.close()
    received = {m["seq"]: m for topic, m in messages if topic == "heiti/kws"}
    assert len(sent) == 4 and sorted(received) == [d["seq"] for d in sent]
    assert [received[d["seq"]]["keyword"] for d in sent] == [d["keyword"] for d in sent]
    assert any(topic == "heiti/kws/statistics" for topic, _ in messages)


def test_features_unlike_the_models_dataset_are_refused(spotter, capsys):
    path = _flow(spotter, [{"type": "console"}])
    flow = yaml.safe_load(path.read_text())
    flow["preprocess"] = [{"type": "mfcc", "parameters": {"window": 400}}]
    path.write_text(yaml.safe_dump(flow))
    assert run_cli("flow", path) == 2
    err = capsys.readouterr().err
    assert ("preprocess[0].parameters.window is 400, but the model was trained on dataset "
            "'speech-commands' with 512") in err
    assert "leave 'window' out" in err


def test_features_left_out_are_the_models_datasets(tmp_path):
    from heiti.datasets.synthetic_keywords import SyntheticKeywords
    from heiti.scenario import ComponentSpec, instantiate

    features = {"implementation": "cmsis-q15", "int8_scale": 0.25, "coefficients": 8}
    dataset = SyntheticKeywords({"features": features}, base_dir=tmp_path)  # nothing spoken yet
    stage = instantiate("transform", ComponentSpec(type="mfcc", parameters={"hop": 320}), "preprocess[0]",
                        tmp_path)
    stage.match_dataset(dataset, "preprocess[0]")
    assert (stage.params.implementation, stage.params.int8_scale, stage.params.coefficients) == (
        "cmsis-q15", 0.25, 8)
