"""Remote targets: a real `heiti server` on loopback, a pseudo-terminal serial link, a pipe.

The server must survive every kind of bad input and keep serving; remote evaluation
must give exactly the predictions and metrics of a local run."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli, scenario_dict, write_scenario
from heiti.core.artifact import Artifact
from heiti.protocols import messages as m
from heiti.protocols.client import RemoteError
from heiti.protocols.framing import HEADER_SIZE, MAGIC, VERSION, Frame, encode
from heiti.protocols.messages import ErrorCode, MsgType
from remote_helpers import (
    PtyCable,
    error_of,
    healthy,
    hello,
    send_and_collect,
    serial_channel,
    server_process,
    tcp_channel,
)

E = ErrorCode


@pytest.fixture(scope="module")
def model(tmp_path_factory, trained_model_dir) -> Artifact:
    """The session's trained digits model exported to ONNX."""
    import shutil

    folder = tmp_path_factory.mktemp("remote-model")
    shutil.copytree(trained_model_dir / "model", folder / "model")
    assert run_cli("optimize", write_scenario(folder, scenario_dict())) == 0
    return Artifact.load(folder / "build" / "01-onnx-export.onnx")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    with server_process(log, "--port", "0", "--max-upload-mb", "1") as (proc, port):
        yield int(port)
        assert proc.poll() is None, log.read_text()


def upload(client, path: Path, sidecar: dict, runtime: dict | None = None) -> dict:
    return client.upload(path, sidecar, runtime)


def sidecar(model: Artifact, **details) -> dict:
    data = model.model_dump(mode="json", exclude={"path"})
    data["provenance"]["details"].update(details)
    return data


# --- framing --------------------------------------------------------------------------

def test_frame_layout_is_little_endian_with_crc_over_header_and_payload():
    frame = encode(MsgType.PING, b"abc", flags=0x02)
    assert len(frame) == HEADER_SIZE + 3 == 17
    assert frame[:10] == b"HT\x02\x40\x02\x00" + struct.pack("<I", 3)
    assert struct.unpack_from("<I", frame, 10)[0] == zlib.crc32(frame[:10] + b"abc")


def test_tensors_round_trip_and_reject_malformed_payloads():
    import numpy as np

    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, -2], dtype=np.int8)]
    back = m.unpack_tensors(m.pack_tensors(arrays))
    assert all((a == b).all() and a.dtype == b.dtype for a, b in zip(arrays, back, strict=True))
    good = m.pack_tensors(arrays)
    for bad in (good[:-1], good + b"x", b"\x01\x00\x00\x00\x63\x01\x00\x00"):
        with pytest.raises(m.PayloadError):
            m.unpack_tensors(bad)


# --- done when: remote equals local ---------------------------------------------------

def _run(folder: Path, name: str, target: dict, samples: int, batch_size: int = 1) -> dict:
    """Evaluate in the module's build folder (its exported model is reused) and return
    the measurements, taken out of the way of the next run."""
    data = scenario_dict(name, target=target, report={"enabled": False},
                         test={"warmup": 2, "samples": samples, "batch_size": batch_size})
    assert run_cli("test", write_scenario(folder, data, f"{name}.yml")) == 0
    written = folder / "build" / "measurements.json"
    return json.loads(written.rename(folder / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def local_run(model) -> tuple[Path, dict]:
    """A local evaluation of the first 120 test samples, and the folder to run beside it."""
    folder = model.path.parents[1]
    return folder, _run(folder, "local", {"kind": "local"}, samples=120)


def _assert_same_results(local: dict, remote: dict) -> None:
    """Remote predictions equal the local ones (a prefix when fewer samples ran remotely)."""
    count = remote["quality"]["samples"]
    assert remote["quality"]["predictions"] == local["quality"]["predictions"][:count]
    if count == local["quality"]["samples"]:
        assert remote["quality"] == local["quality"]
    perf = remote["performance"]
    assert perf["target_latency_ms"]["p50"] < perf["latency_ms"]["p50"]  # transport excluded
    assert len(perf["series"]["target_latency_ms"]) == perf["batches"]
    assert remote["environment"]["target"]["frameworks"]["onnxruntime"]
    assert remote["resources"]["target"]["inferences"] >= perf["batches"]
    assert remote["resources"]["target"]["rss_mb"] > 10


def test_tcp_target_gives_the_same_predictions_and_metrics_as_local(local_run, server):
    folder, local = local_run
    remote = _run(folder, "tcp", {"kind": "remote", "protocol": "tcp", "port": server}, samples=120)
    _assert_same_results(local, remote)
    from heiti.pipeline.measurements import Measurements
    from heiti.report.content import run_sections

    typed = Measurements.model_validate(remote)
    performance = next(s for s in run_sections(typed, "") if s.title == "Performance")
    assert any(row[0].startswith("on the target") for t in performance.tables for row in t.rows)
    # batches of 5 over 23 samples: the last batch has another shape
    batched = _run(folder, "tcp5", {"kind": "remote", "protocol": "tcp", "port": server}, 23, 5)
    assert batched["performance"]["batches"] == 5
    _assert_same_results(local, batched)


def test_host_needs_no_runtime_framework_for_a_remote_target(local_run, server, monkeypatch):
    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime

    monkeypatch.setattr(OnnxRuntime, "requires", ("a_framework_this_host_lacks",))
    target = {"kind": "remote", "protocol": "tcp", "port": server}
    _assert_same_results(local_run[1], _run(local_run[0], "hostless", target, samples=10))


def test_serial_over_a_pty_pair_at_115200_baud_with_line_noise(local_run, tmp_path):
    folder, local = local_run
    noise = {"left": 0}

    def damage_once(data: bytes) -> bytes:  # flip one byte of a PING payload, `left` times
        i = data.find(b"noise-check")
        if i >= 0 and noise["left"]:
            noise["left"] -= 1
            return data[:i] + b"N" + data[i + 1 :]
        return data

    cable = PtyCable(damage_once)
    try:
        with server_process(tmp_path / "serial.log", "--protocol", "serial", "--port", cable.ports[0],
                            "--baud", "115200", wait_for=r"listening on (serial://\S+)"):
            target = {"kind": "remote", "protocol": "serial", "port": cable.ports[1], "baud": 115200}
            _assert_same_results(local, _run(folder, "serial", target, samples=40))
            # the same server serves the next client; a damaged frame is NAKed and resent
            channel = serial_channel(cable.ports[1])
            client = hello(channel)
            noise["left"] = 1
            assert client.request(MsgType.PING, b"noise-check").payload == b"noise-check"
            assert noise["left"] == 0
            noise["left"] = 100  # a line that damages every attempt: a clear error, no hang
            with pytest.raises(RemoteError, match="CRC"):
                client.request(MsgType.PING, b"noise-check")
            channel.close()
    finally:
        cable.close()


def test_pipe_target_runs_the_server_as_a_child_process(local_run):
    folder, local = local_run
    _assert_same_results(local, _run(folder, "pipe", {"kind": "remote", "protocol": "pipe"}, samples=30))


# --- robustness: every bad input gets an ERROR (or a closed connection), then service -----

def _frame_with(**fields) -> bytes:
    head = dict(magic=MAGIC, version=VERSION, type=MsgType.PING, flags=0, reserved=0, payload=b"x")
    head.update(fields)
    header = struct.pack("<2sBBBBI", head["magic"], head["version"], head["type"], head["flags"],
                         head["reserved"], fields.get("length", len(head["payload"])))
    crc = fields.get("crc", zlib.crc32(head["payload"], zlib.crc32(header)))
    return header + struct.pack("<I", crc) + head["payload"]


HELLO = encode(MsgType.HELLO, m.pack_json({"versions": [2]}))


@pytest.mark.parametrize("data, code", [
    (b"\x00garbage\xff" * 20, E.BAD_FRAME),
    (_frame_with(magic=b"XX"), E.BAD_FRAME),
    (_frame_with(version=9), E.VERSION),
    (_frame_with(version=1), E.VERSION),  # a client of protocol 1 (single-tensor DATA)
    (_frame_with(crc=1234), E.CRC),
    (_frame_with(length=2**31), E.TOO_LARGE),
    (HELLO + _frame_with(type=0x7E), E.UNKNOWN_TYPE),
    (HELLO + encode(MsgType.PROCESS), E.OUT_OF_ORDER),
    (encode(MsgType.HELLO, m.pack_json({"versions": [7]})), E.VERSION),
    (encode(MsgType.HELLO, m.pack_json({"versions": [1]})), E.VERSION),
    (encode(MsgType.HELLO, b"{not json"), E.BAD_FRAME),
], ids=["random-bytes", "magic", "version", "old-frame-version", "crc", "length", "unknown-type",
        "process-first", "no-common-version", "old-client-hello", "bad-json"])
def test_server_reports_bad_input_and_keeps_serving(server, data, code):
    assert error_of(send_and_collect(server, data))[0] == code
    assert healthy(server)


def test_truncated_frame_and_disconnect_mid_upload_are_survived(server, model):
    send_and_collect(server, HELLO + encode(MsgType.PING, b"x" * 100)[:40])
    channel = tcp_channel(server)
    client = hello(channel)
    client.request(MsgType.MODEL_BEGIN, m.pack_json({"name": "m.onnx", "size": 5000, "sha256": "0" * 64}))
    channel.send(MsgType.MODEL_CHUNK, b"x" * 1000)
    channel.close()
    assert healthy(server)


def test_a_silent_client_is_dropped_and_the_next_one_served(tmp_path):
    with server_process(tmp_path / "s.log", "--port", "0", "--idle-timeout", "0.5") as (_, port):
        silent = tcp_channel(int(port))
        silent.transport.sock.sendall(HELLO[:7])  # half a header, then nothing
        assert healthy(int(port))  # waits in the listen queue until the silent one is dropped
        silent.close()


def test_model_that_fails_to_load_and_wrong_inputs_get_errors_in_a_live_session(server, model, tmp_path):
    import numpy as np

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not an onnx model" * 10)
    channel = tcp_channel(server)
    client = hello(channel)
    with pytest.raises(RemoteError) as failed:
        upload(client, junk, sidecar(model))
    assert failed.value.code == E.MODEL_LOAD and "could not load" in failed.value.text
    loaded = upload(client, model.path, sidecar(model), {"type": "onnxruntime",
                                                          "parameters": {"threads": 2}})
    assert loaded["runtime"]["parameters"]["threads"] == 2  # the scenario's runtime settings apply
    client.request(MsgType.IOSPEC, m.pack_json(model.io.model_dump(mode="json")))
    wrong = np.zeros((1, 1, 8, 9), dtype=np.float64)
    with pytest.raises(RemoteError) as failed:
        client.request(MsgType.DATA, m.pack_tensors([wrong]))
    assert failed.value.code == E.BAD_INPUT
    text = failed.value.text
    assert "expected input: float32[?x1x8x8]" in text and "received float64[1, 1, 8, 9]" in text
    client.request(MsgType.DATA, m.pack_tensors([np.zeros((1, 1, 8, 8), np.float32)]))
    channel.send(MsgType.PROCESS)
    client.expect(MsgType.PROCESS_STARTED)
    assert m.unpack_ns(client.expect(MsgType.PROCESS_DONE).payload) > 0
    assert m.unpack_tensors(client.request(MsgType.OUTPUT, expect=MsgType.OUTPUT).payload)[0].shape == (1, 10)
    client.bye()
    channel.close()


def test_refuses_native_code_unknown_runtimes_and_oversized_uploads(server, model, tmp_path):
    elf = tmp_path / "lib.so"
    elf.write_bytes(b"\x7fELF" + b"\0" * 100)
    cases = [(elf, sidecar(model), None, E.REFUSED, "native code"),
             (model.path, sidecar(model, native_code=True), None, E.REFUSED, "--allow-native-code"),
             (model.path, sidecar(model), {"type": "torch", "parameters": {}}, E.REFUSED, "not offered")]
    big = tmp_path / "big.onnx"
    big.write_bytes(b"\0" * (2 * 2**20))
    cases.append((big, sidecar(model), None, E.TOO_LARGE, "upload limit"))
    for path, meta, runtime, code, text in cases:
        channel = tcp_channel(server)
        with pytest.raises(RemoteError) as refused:
            upload(hello(channel), path, meta, runtime)
        assert refused.value.code == code and text in refused.value.text
        channel.close()
    assert healthy(server)


def test_directory_models_travel_as_tar_and_are_unpacked_safely(server, model, tmp_path):
    import hashlib
    import io
    import tarfile

    folder = tmp_path / "ir.openvino"
    (folder / "lib").mkdir(parents=True)
    (folder / "model.xml").write_text("<net/>")
    (folder / "lib" / "plugin.so").write_bytes(b"\x7fELF" + b"\0" * 60)
    channel = tcp_channel(server)
    with pytest.raises(RemoteError, match="native code"):  # found inside the unpacked folder
        upload(hello(channel), folder, sidecar(model))
    channel.close()

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    data = evil.getvalue()
    channel = tcp_channel(server)
    client = hello(channel)
    client.request(MsgType.MODEL_BEGIN, m.pack_json({
        "name": "x.openvino", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
        "packing": "tar", "sidecar": sidecar(model)}))
    client.request(MsgType.MODEL_CHUNK, data)
    with pytest.raises(RemoteError, match="cannot unpack"):
        client.request(MsgType.MODEL_END)
    channel.close()
    assert healthy(server)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.binary(max_size=64),
    st.builds(lambda t, f, p: encode(t, p, f), st.integers(0, 255), st.integers(0, 255),
              st.binary(max_size=48)),
    st.builds(lambda frame, i, b: frame[:i] + bytes([b]) + frame[i + 1 :],
              st.sampled_from([HELLO, encode(MsgType.PING, b"abc")]), st.integers(0, 16),
              st.integers(0, 255)),
), min_size=1, max_size=4), st.sampled_from([b"", HELLO]))
def test_property_malformed_frames_never_break_the_server(server, chunks, prefix):
    # (after a valid HELLO, well-framed junk reaches the message handlers themselves)
    send_and_collect(server, prefix + b"".join(chunks))
    assert healthy(server)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2, 2**40) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6),
                                                                                  inner, max_size=3),
                     max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional={k: _JSON for k in ("name", "size", "sha256", "packing",
                                                              "sidecar", "runtime")}),
       st.sampled_from([MsgType.MODEL_BEGIN, MsgType.IOSPEC, MsgType.DATA]))
def test_property_junk_control_messages_get_answers_not_crashes(server, fields, msg_type):
    frames = send_and_collect(server, HELLO + encode(msg_type, m.pack_json(fields)) + encode(MsgType.PING))
    assert [f.type for f in frames][:1] == [MsgType.HELLO] and len(frames) >= 2
    assert healthy(server)


# --- security and failures ------------------------------------------------------------

def test_non_loopback_bind_requires_a_token(capsys, monkeypatch):
    monkeypatch.delenv("HEITI_TOKEN", raising=False)
    assert run_cli("server", "--host", "0.0.0.0", "--port", "0") == 2
    assert "token is required" in capsys.readouterr().err


def test_token_challenge_response(tmp_path, local_run):
    with server_process(tmp_path / "s.log", "--port", "0", "--token", "s3cret") as (_, port):
        target = {"kind": "remote", "protocol": "tcp", "port": int(port), "token": "s3cret"}
        document = _run(local_run[0], "auth", target, samples=10)
        assert "s3cret" not in json.dumps(document)  # the secret never reaches the measurements
        for token, code in ((None, E.AUTH), ("wrong", E.AUTH)):
            channel = tcp_channel(int(port))
            with pytest.raises(RemoteError) as denied:
                hello(channel, token)
            assert denied.value.code == code
            channel.close()
        channel = tcp_channel(int(port))
        client = hello(channel, "s3cret")
        assert client.server["auth"] and client.request(MsgType.PING).type == MsgType.OK
        channel.close()
        # before AUTH nothing else is accepted, not even BYE
        for message in (MsgType.PING, MsgType.BYE):
            frames = send_and_collect(int(port), HELLO + encode(message))
            assert error_of(frames)[0] == E.AUTH and MsgType.OK not in [f.type for f in frames]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workdir(model) -> Path:
    """The module's folder, whose build/ holds the exported model and no measurements."""
    folder = model.path.parents[1]
    assert not (folder / "build" / "measurements.json").exists()
    return folder


def test_dead_target_fails_the_run_without_measurements(workdir, capsys):
    target = {"kind": "remote", "protocol": "tcp", "port": _free_port(), "connect_timeout_s": 2}
    data = scenario_dict("dead", target=target, test={"samples": 5})
    assert run_cli("test", write_scenario(workdir, data)) == 1
    assert "connecting" in capsys.readouterr().err
    assert not (workdir / "build" / "measurements.json").exists()


def test_silent_target_times_out_without_measurements(workdir, capsys):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        target = {"kind": "remote", "protocol": "tcp", "port": silent.getsockname()[1],
                  "timeout_s": 0.5}
        data = scenario_dict("silent", target=target, test={"samples": 5})
        assert run_cli("test", write_scenario(workdir, data)) == 1
    assert "no answer within the timeout" in capsys.readouterr().err
    assert not (workdir / "build" / "measurements.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--protocol", "serial"], "needs a device"),
    (["--port", "99999"], "not a TCP port"),
    (["--runtime", "onnxruntim"], "unknown runtime"),
    (["--protocol", "serial", "--port", "/nonexistent/tty"], "cannot"),
])
def test_server_arguments_are_checked(capsys, args, message):
    assert run_cli("server", *args) == 2
    assert message in capsys.readouterr().err


@contextlib.contextmanager
def scripted_target(answer: Callable[[Frame], list[tuple[int, bytes]] | None]) -> Iterator[int]:
    """A target that misbehaves on purpose (heiti's server cannot be made to): a TCP server
    on loopback answering each frame of one client with ``answer(frame)``'s messages
    (None: it hangs up). Yields the port."""
    import threading

    from heiti.protocols.channel import Channel
    from heiti.protocols.transports import SocketTransport

    def serve(listener: socket.socket) -> None:
        sock, _ = listener.accept()
        channel = Channel(SocketTransport(sock, "scripted", 10))
        with contextlib.suppress(OSError):
            while (messages := answer(channel.recv())) is not None:
                channel.send_raw(b"".join(encode(*message) for message in messages))
        sock.close()

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        thread.join(10)


def well_behaved(frame: Frame, outputs: bytes = b"", stats: bytes = b"{}") -> list[tuple[int, bytes]]:
    """The answers of a target that works (``outputs``: OUTPUT's payload)."""
    if frame.type == MsgType.HELLO:
        return [(MsgType.HELLO, m.pack_json({"version": VERSION, "max_message": 2**20}))]
    if frame.type == MsgType.MODEL_END:
        return [(MsgType.OK, b"{}")]
    if frame.type == MsgType.DATA and frame.flags & m.FLAG_NO_ACK:
        return []
    if frame.type == MsgType.PROCESS:
        return [(MsgType.PROCESS_STARTED, b""), (MsgType.PROCESS_DONE, m.pack_ns(1000)),
                (MsgType.OUTPUT, outputs)]
    if frame.type == MsgType.STATS:
        return [(MsgType.STATS, stats)]
    return [(MsgType.OK, b"")]


def _failed_run(workdir: Path, name: str, port: int, capsys) -> str:
    """`heiti test` against the target on ``port``: exit 1, no measurements; its stderr."""
    target = {"kind": "remote", "protocol": "tcp", "port": port}
    data = scenario_dict(name, target=target, test={"samples": 3, "warmup": 0})
    assert run_cli("test", write_scenario(workdir, data)) == 1
    assert not (workdir / "build" / "measurements.json").exists()
    return capsys.readouterr().err


def test_target_dying_mid_evaluation_fails_the_run_without_measurements(workdir, capsys):
    with scripted_target(lambda frame: None if frame.type == MsgType.DATA else well_behaved(frame)) as port:
        assert "inference: the peer closed the connection" in _failed_run(workdir, "dies", port, capsys)


def test_a_targets_error_text_is_shown_not_interpreted_by_the_terminal(workdir, capsys):
    """Clear screen, a window title (OSC 0) and a clipboard write (OSC 52) in an ERROR."""
    hostile = "\x1b[2Jcleared\x1b]0;pwned\x07\x1b]52;c;ZWNobyBldmls\x07\r\x9b31m"

    def refuse_the_model(frame: Frame) -> list[tuple[int, bytes]]:
        if frame.type == MsgType.MODEL_BEGIN:
            return [(MsgType.ERROR, m.pack_error(E.REFUSED, hostile))]
        return well_behaved(frame)

    with scripted_target(refuse_the_model) as port:
        err = _failed_run(workdir, "escapes", port, capsys)
    assert "\x1b" not in err and "\x07" not in err and "\r" not in err and "\x9b" not in err
    assert "\\x1b[2Jcleared\\x1b]0;pwned\\x07\\x1b]52;c;ZWNobyBldmls\\x07\\x0d\\x9b31m" in err


def test_shown_escapes_every_control_but_new_lines_and_tabs():
    from heiti.terminal import shown

    assert shown("a\tb\nc") == "a\tb\nc"
    assert shown("\x00\x1b\x7f\x85\u202e\u2066é✓") == "\\x00\\x1b\\x7f\\x85\\u202e\\u2066é✓"


def test_outputs_of_the_wrong_type_or_stats_not_json_fail_the_run(workdir, model, capsys):
    """Protocol violations a target may commit after a good start (issue 19's red team)."""
    import numpy as np

    name = model.io.outputs[0].name
    integers = m.pack_tensors([np.zeros((1, 10), np.int64)])
    with scripted_target(lambda frame: well_behaved(frame, integers)) as port:
        err = _failed_run(workdir, "int64", port, capsys)
    assert f"decoding outputs: OUTPUT '{name}' holds int64 values, the IO specification says float32" in err
    floats = m.pack_tensors([np.zeros((1, 10), np.float32)])
    with scripted_target(lambda frame: well_behaved(frame, floats, b"not json")) as port:
        err = _failed_run(workdir, "stats", port, capsys)
    assert "reading STATS: payload is not UTF-8 JSON" in err


def test_bad_target_parameters_are_input_errors(workdir, capsys):
    data = scenario_dict("bad", target={"kind": "remote", "protocol": "serial"})
    assert run_cli("test", write_scenario(workdir, data)) == 2
    assert "serial target needs 'port'" in capsys.readouterr().err


def test_the_protocol_documents_examples_are_version_2_frames():
    """docs/protocol.md's example bytes are what heiti sends (a C target is written from them)."""
    import numpy as np

    doc = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text()

    def spaced(data: bytes) -> str:
        return " ".join(f"{byte:02x}" for byte in data)

    data = encode(MsgType.DATA, m.pack_tensors([np.array([[1, -2]], np.float32)]), m.FLAG_NO_ACK)
    for frame in (encode(MsgType.PING, b"abc"), encode(MsgType.PROCESS, flags=m.FLAG_WITH_OUTPUT),
                  data[:HEADER_SIZE], encode(MsgType.PROCESS_DONE, m.pack_ns(52000)), encode(MsgType.NAK)):
        assert spaced(frame) in doc
    assert "48 54 01" not in doc
