"""Runtime flows: a digits model fed from an image folder into JSON lines and a real MQTT
broker; back-pressure from a slow sink; flow files with mistakes."""

import json
import threading
import time

import numpy as np
import pytest
import yaml
from PIL import Image

from broker import Subscriber, free_port
from conftest import run_cli, scenario_dict, write_scenario
from heiti.datasets.digits import Digits
from heiti.errors import RunFailed
from heiti.flows.engine import FlowRunner
from heiti.flows.stage import Item, Sink, Source
from process_helpers import Lines

IMAGES = 30


def _digit_images(folder):
    data = Digits().split("test").head(IMAGES)
    folder.mkdir()
    for i, (x, label) in enumerate(zip(data.x, data.truth, strict=True)):
        Image.fromarray(np.rint(x[0] * 255).astype(np.uint8)).save(folder / f"{i:03d}-{label}.png")
    return data.truth


def _flow(workdir, sinks, **extra):
    write_scenario(workdir, scenario_dict())
    flow = {"name": "digits-live",
            "source": {"type": "image-folder",
                       "parameters": {"path": "images", "size": [8, 8], "grayscale": True}},
            "model": {"scenario": "scenario.yml"},
            "postprocess": [{"type": "top-class"}],
            "sinks": sinks, "statistics": "stats.json", **extra}
    path = workdir / "flow.yml"
    path.write_text(yaml.safe_dump(flow), encoding="utf-8")
    return path


def test_images_through_a_model_into_json_lines_and_mqtt(workdir, broker, capsys):
    truth = _digit_images(workdir / "images")
    subscriber = Subscriber(broker, "heiti/digits/#")
    path = _flow(workdir, [{"type": "jsonl", "parameters": {"path": "out/results.jsonl"}},
                           {"type": "mqtt", "parameters": {"url": broker.url("heiti/digits")}},
                           {"type": "console"}])
    assert run_cli("flow", path) == 0
    lines = [json.loads(line) for line in (workdir / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["seq"] for r in lines] == list(range(IMAGES))
    assert lines[0]["schema"] == "heiti/flow-result/1" and lines[0]["flow"] == "digits-live"
    predicted = [int(r["label"]) for r in lines]
    assert np.mean(np.asarray(predicted) == truth) > 0.8
    messages = subscriber.wait_for(IMAGES + 1)
    subscriber.close()
    results = [m for t, m in messages if t == "heiti/digits"]
    assert sorted(m["seq"] for m in results) == list(range(IMAGES))
    (statistics,) = [m for t, m in messages if t == "heiti/digits/statistics"]
    assert statistics["items"] == IMAGES
    assert [s["stage"] for s in statistics["stages"]] == [
        "source image-folder", "model", "postprocess[0] top-class", "sinks[0] jsonl", "sinks[1] mqtt",
        "sinks[2] console"]
    assert all(s["latency_ms"]["p50"] > 0 for s in statistics["stages"])
    assert json.loads((workdir / "stats.json").read_text())["items"] == IMAGES
    captured = capsys.readouterr()
    assert "000-" in captured.out and "label=" in captured.out
    assert "heiti: flow digits-live: 30 items" in captured.err


def test_an_unreachable_broker_fails_the_flow_before_it_starts(workdir, capsys):
    _digit_images(workdir / "images")
    port = free_port()
    path = _flow(workdir, [{"type": "mqtt", "parameters": {"url": f"mqtt://127.0.0.1:{port}/x"}}])
    assert run_cli("flow", path) == 1
    assert f"cannot reach the MQTT broker at 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_model_input_mismatch_names_the_stage(workdir, capsys):
    _digit_images(workdir / "images")
    path = _flow(workdir, [{"type": "console"}])
    flow = yaml.safe_load(path.read_text())
    flow["source"]["parameters"]["size"] = [16, 16]
    path.write_text(yaml.safe_dump(flow))
    assert run_cli("flow", path) == 2
    err = capsys.readouterr().err
    assert "flow stage 'model': the dataset's samples do not fit the model" in err


@pytest.mark.parametrize(("change", "message"), [
    ({"sinks": []}, "sinks: List should have at least 1 item"),
    ({"sinks": [{"type": "mqtt", "parameters": {"url": "tcp://x/y"}}]}, "sinks[0].parameters.url: String"),
    ({"source": {"type": "image-folda"}}, "source.type: unknown source 'image-folda'"),
    ({"model": {"runtime": {"type": "onnxruntime"}}}, "model: Value error, give either 'scenario' or"),
    ({"postprocess": [{"type": "keyword-spotter", "parameters": {"threshold": 2}}]},
     "postprocess[0].parameters.threshold: Input should be less than or equal to 1"),
])
def test_flow_file_mistakes_are_reported_with_their_path(tmp_path, capsys, change, message):
    flow = {"name": "f", "source": {"type": "image-folder", "parameters": {"path": "."}},
            "sinks": [{"type": "console"}], **change}
    path = tmp_path / "flow.yml"
    path.write_text(yaml.safe_dump(flow))
    assert run_cli("flow", path) == 2
    err = capsys.readouterr().err
    assert "invalid flow file" in err or "source.type" in err
    assert message in err


class Counting(Source):
    """Numbers 0..N-1, counting how many it has produced (not registered: a test stage)."""

    name = "counting"

    def __init__(self, total):
        super().__init__()
        self.total, self.produced = total, 0

    def items(self):
        for i in range(self.total):
            self.produced += 1
            yield Item(i, "counter", tensors={"x": np.zeros((1, 1024), np.float32)},
                       results=[{"i": i}])


class SlowSink(Sink):
    """Takes 2 ms per item and records how far ahead the source got each time."""

    name = "slow"

    def __init__(self, source):
        super().__init__()
        self.source, self.ahead, self.seen = source, [], []

    def write(self, item):
        time.sleep(0.002)
        self.seen.append(item.seq)
        self.ahead.append(self.source.produced - len(self.seen))


def test_a_slow_sink_holds_the_source_back_instead_of_queueing_everything():
    source = Counting(400)
    sink = SlowSink(source)
    runner = FlowRunner("bp", source, [], [("slow", sink)], queue_size=4)
    before = threading.active_count()
    statistics = runner.run()
    assert sink.seen == list(range(400))  # nothing dropped, in order
    # at most the queue plus the item the source holds while it waits: bounded memory
    assert max(sink.ahead) <= 4 + 2
    source_stage = statistics["stages"][0]
    assert source_stage["blocked_s"] > 0.3  # it waited for the sink most of the time
    assert statistics["stages"][1]["max_queued"] <= 4
    assert threading.active_count() == before


class FailingSink(Sink):
    name = "failing"

    def write(self, item):
        if item.seq == 5:
            raise OSError("disk full")


def test_a_failing_stage_stops_the_flow_with_its_name():
    from heiti.errors import RunFailed

    runner = FlowRunner("f", Counting(10_000), [], [("sinks[0] failing", FailingSink())], queue_size=2)
    with pytest.raises(RunFailed, match="flow stage 'sinks\\[0\\] failing' failed: OSError: disk full"):
        runner.run()


def test_windows_overlap_and_the_tail_is_padded():
    from heiti.flows.sources.windows import AudioWindowParams, Windower

    params = AudioWindowParams(sample_rate=1000, window_s=0.01, hop_s=0.005)  # 10 and 5 samples
    windows = Windower(params, "a")
    audio = np.arange(1, 24, dtype=np.float32)
    items = [*windows.feed(audio[:7]), *windows.feed(audio[7:]), *windows.finish()]
    assert [round(item.offset_s * 1000) for item in items] == [0, 5, 10, 15]
    assert items[1].tensors["audio"][0, 0] == 6 and items[1].tensors["audio"].shape == (1, 10)
    assert items[-1].tensors["audio"][0].tolist() == [16, 17, 18, 19, 20, 21, 22, 23, 0, 0]
    exact = Windower(params, "b")
    assert len([*exact.feed(audio[:20]), *exact.finish()]) == 3  # nothing left unheard


def test_tcp_audio_reads_pcm_from_a_client_into_windows():
    import socket

    from heiti.flows.sources.tcp_audio import TcpAudio

    port = free_port()
    source = TcpAudio({"port": port, "sample_rate": 8000, "window_s": 0.5, "hop_s": 0.25})
    source.open()
    pcm = (np.sin(np.arange(8000) / 10) * 16000).astype("<i2")

    def speak():
        with socket.create_connection(("127.0.0.1", port)) as client:
            data = pcm.tobytes()
            for start in range(0, len(data), 999):  # odd chunks split samples across reads
                client.sendall(data[start:start + 999])

    sender = threading.Thread(target=speak)
    sender.start()
    items = list(source.items())
    sender.join()
    source.close()
    assert [round(item.offset_s, 2) for item in items] == [0.0, 0.25, 0.5]
    assert np.allclose(items[1].tensors["audio"][0], pcm[2000:6000] / 32768.0)
    assert items[0].source.startswith("tcp:127.0.0.1:")


def test_ctrl_c_stops_a_flow_that_waits_for_its_source(tmp_path):
    import signal
    import subprocess
    import sys

    port = free_port()
    flow = {"name": "waiting", "source": {"type": "tcp-audio", "parameters": {"port": port}},
            "sinks": [{"type": "console"}]}
    (tmp_path / "flow.yml").write_text(yaml.safe_dump(flow))
    process = subprocess.Popen([sys.executable, "-m", "heiti", "flow", "flow.yml"], cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
    err = Lines(process.stderr)
    try:
        err.wait_for(f"tcp-audio: listening on tcp://127.0.0.1:{port}")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        if process.poll() is None:
            process.kill()
    assert "interrupted" in err.finish()


def test_a_sink_that_cannot_open_its_file_is_named(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / "a.png")
    flow = {"name": "f", "source": {"type": "image-folder", "parameters": {"path": "images"}},
            "postprocess": [], "sinks": [{"type": "jsonl", "parameters": {"path": "taken"}}]}
    (tmp_path / "flow.yml").write_text(yaml.safe_dump(flow))
    assert run_cli("flow", tmp_path / "flow.yml") == 1
    err = capsys.readouterr().err
    assert "flow stage 'sinks[0] jsonl' failed" in err and "Is a directory" in err


# --- hostile audio sources (issue 20) ---------------------------------------------------------

def _pcm(seconds: float, rate: int = 8000) -> bytes:
    return (np.sin(np.arange(int(seconds * rate)) / 10) * 16000).astype("<i2").tobytes()


def _tcp_source(**parameters):
    from heiti.flows.sources.tcp_audio import TcpAudio

    source = TcpAudio({"port": free_port(), "sample_rate": 8000, "window_s": 0.5, "hop_s": 0.25,
                       **parameters})
    source.open()
    return source


def _speak(port: int, data: bytes) -> threading.Thread:
    import socket

    def send():
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(data)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_a_silent_client_is_dropped_and_the_next_one_is_heard(capsys):
    """The silent client connects first and holds the source for read_timeout_s only."""
    import socket

    source = _tcp_source(read_timeout_s=0.3)
    silent = socket.create_connection(("127.0.0.1", source.params.port))
    speaker = _speak(source.params.port, _pcm(1.0))
    items = list(source.items())
    speaker.join()
    port = silent.getsockname()[1]
    silent.close()
    source.close()
    assert [round(item.offset_s, 2) for item in items] == [0.0, 0.25, 0.5]
    assert f"tcp-audio: dropped the client 127.0.0.1:{port}: sent nothing within 0.3 s" \
        in capsys.readouterr().err


def test_a_source_with_only_a_silent_client_gives_up_at_its_accept_deadline():
    import socket

    source = _tcp_source(read_timeout_s=0.2, accept_timeout_s=0.5)
    with socket.create_connection(("127.0.0.1", source.params.port)), \
            pytest.raises(RunFailed, match=r"no client sent audio to 127.0.0.1:\d+ within 0.5 s"):
        list(source.items())
    source.close()


def test_a_client_that_stops_mid_stream_ends_the_flow_after_what_it_sent():
    import socket

    source = _tcp_source(read_timeout_s=0.3)
    client = socket.create_connection(("127.0.0.1", source.params.port))
    client.sendall(_pcm(0.8))  # two windows and a tail, then silence with the connection open
    items = []
    with pytest.raises(RunFailed, match=r"tcp-audio: the client tcp:127.0.0.1:\d+ sent nothing for "
                                        r"0.3 s; the stream ends here"):
        for item in source.items():
            items.append(item)
    client.close()
    source.close()
    assert [round(item.offset_s, 2) for item in items] == [0.0, 0.25, 0.5]  # the tail padded


def test_with_a_token_only_a_client_that_sends_it_first_is_heard(capsys, monkeypatch):
    monkeypatch.delenv("HEITI_TOKEN", raising=False)
    source = _tcp_source(token="s3cret", read_timeout_s=5)
    wrong = _speak(source.params.port, b"guess\n" + _pcm(1.0))
    wrong.join()  # queued first: accepted first
    right = _speak(source.params.port, b"s3cret\n" + _pcm(1.0))
    items = list(source.items())
    right.join()
    source.close()
    assert len(items) == 3 and np.allclose(items[1].tensors["audio"][0],
                                            np.frombuffer(_pcm(1.0), "<i2")[2000:6000] / 32768.0)
    err = capsys.readouterr().err
    assert "dropped the client" in err and "no valid token line" in err and "s3cret" not in err


def test_tcp_audio_off_loopback_needs_a_token(tmp_path, capsys, monkeypatch):
    from heiti.flows.sources.tcp_audio import TcpAudio

    monkeypatch.delenv("HEITI_TOKEN", raising=False)
    flow = {"name": "open", "source": {"type": "tcp-audio", "parameters": {"host": "0.0.0.0",
                                                                          "port": free_port()}},
            "sinks": [{"type": "console"}]}
    (tmp_path / "flow.yml").write_text(yaml.safe_dump(flow))
    assert run_cli("flow", tmp_path / "flow.yml") == 2
    err = capsys.readouterr().err
    assert "source.parameters" in err and "host 0.0.0.0 is reachable from other machines, so a " \
                                          "token is required" in err
    monkeypatch.setenv("HEITI_TOKEN", "from-the-environment")
    assert TcpAudio({"host": "0.0.0.0", "port": free_port()}).params.secret() == b"from-the-environment"


@pytest.mark.parametrize(("rate", "seconds", "parameters", "message"), [
    (1, 20_000, {}, "declares 1 Hz; heiti reads 1,000 to 768,000 Hz"),
    (2_000_000, 0.01, {}, "declares 2000000 Hz; heiti reads 1,000 to 768,000 Hz"),
    (8000, 3, {"max_seconds": 2}, "lasts 3 s, more than the 2 s heiti reads from one file"),
])
def test_wav_rates_and_lengths_beyond_the_limits_are_bad_input(tmp_path, capsys, rate, seconds,
                                                                parameters, message):
    soundfile = pytest.importorskip("soundfile", reason='needs the audio extra: pip install "heiti[audio]"')
    soundfile.write(tmp_path / "clip.wav", np.zeros(int(rate * seconds), np.int16), rate)
    flow = {"name": "wav", "source": {"type": "wav-stream", "parameters": {
        "path": "clip.wav", "sample_rate": 16000, **parameters}}, "sinks": [{"type": "console"}]}
    (tmp_path / "flow.yml").write_text(yaml.safe_dump(flow))
    assert run_cli("flow", tmp_path / "flow.yml") == 2
    assert message in capsys.readouterr().err
