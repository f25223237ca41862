"""`heiti server` as an attacker would try it (docs/security.md): native code, server files
in error texts, unbounded runtime parameters, clients that trickle bytes, hostile control
messages, bad options and SIGTERM. Real server processes on loopback unless a test says
otherwise."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from heiti.protocols import messages as m
from heiti.protocols.channel import Channel
from heiti.protocols.client import Client, RemoteError
from heiti.protocols.framing import VERSION, encode
from heiti.protocols.messages import ErrorCode, MsgType
from heiti.protocols.server import ServerConfig, Session
from heiti.protocols.transports import SocketTransport
from remote_helpers import error_of, healthy, hello, send_and_collect, server_process, tcp_channel

E = ErrorCode
HELLO = encode(MsgType.HELLO, m.pack_json({"versions": [VERSION]}))
IO = {"inputs": [{"name": "input", "shape": [-1, 4]}], "outputs": [{"name": "logits", "shape": [-1, 4]}]}
SIDECAR = {"format": "onnx", "io": IO, "provenance": {"producer": "test"}}


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    """A four-value ReLU: the smallest model ONNX Runtime loads."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["logits"])], "relu",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 4])])
    path = tmp_path_factory.mktemp("onnx") / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Short deadlines, so that slow clients are dropped within the test's patience."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with server_process(log, "--port", "0", "--max-upload-mb", "1", "--max-threads", "1",
                        "--handshake-timeout", "1.5", "--idle-timeout", "2") as (proc, port):
        yield int(port)
        assert proc.poll() is None, log.read_text()


def _refusal(port: int, path: Path, sidecar: dict, runtime: dict | None = None) -> RemoteError:
    channel = tcp_channel(port)
    try:
        with pytest.raises(RemoteError) as refused:
            hello(channel).upload(path, sidecar, runtime)
        return refused.value
    finally:
        channel.close()


def _exit_of(*args: str, timeout: float = 120) -> tuple[int | None, str]:
    """`heiti server ARGS` as a process: its exit code (None: still serving after ``timeout``,
    a bound generous enough for a loaded machine; a refusal exits at once) and its stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "heiti", "server", "--port", "0", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        return proc.wait(timeout=timeout), proc.stderr.read().decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None, proc.stderr.read().decode()
    finally:
        proc.stderr.close()


# --- native code: decided from the runtime, never from the client ---------------------

@pytest.mark.parametrize("runtime", ["micro-host", "tvm", "iree", "onnxruntime,micro-host"])
def test_runtimes_that_run_native_code_need_the_operators_consent(runtime):
    code, err = _exit_of("--runtime", runtime)
    assert code == 2 and "--allow-native-code" in err and "native code" in err


@pytest.mark.parametrize("runtime, declared", [("micro-host", {}), ("iree", {"native_code": False}),
                                               ("tvm", {"native_code": False})])
def test_a_session_refuses_native_runtimes_whatever_the_sidecar_says(runtime, declared, tmp_path):
    """Defence in depth for servers configured in code (the CLI refuses such a config): a
    Session over a real socket pair, in this process, because no CLI server can be built
    this way. The refusal comes at MODEL_BEGIN, before a byte is stored."""
    ours, theirs = socket.socketpair()
    config = ServerConfig(runtimes=[runtime], allow_native_code=False)
    session = Session(Channel(SocketTransport(ours, "socketpair", 10)), config)
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    client = Client(Channel(SocketTransport(theirs, "socketpair", 10)))
    client.hello(None)
    model = tmp_path / "model.bin"
    model.write_bytes(b"not machine code at all" * 10)
    sidecar = {**SIDECAR, "format": runtime, "provenance": {"producer": "x", "details": declared}}
    with pytest.raises(RemoteError) as refused:
        client.upload(model, sidecar, {"type": runtime, "parameters": {}})
    assert refused.value.code == E.REFUSED and "--allow-native-code" in refused.value.text
    assert session.workdir is None  # nothing was written
    client.bye()
    thread.join(5)
    theirs.close()


def _tar(members: dict[str, bytes], compress: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue()) if compress else out.getvalue()


OBJECT = Path(sys.executable).read_bytes()[:4096]  # the start of a real ELF file


@pytest.mark.parametrize("content", [
    _tar({"lib0.o": OBJECT, "devc.o": OBJECT}),
    _tar({"lib0.o": OBJECT}, compress=True),
    _tar({"inner.tar": _tar({"weights.txt": b"1 2 3", "lib0.o": OBJECT})}),
    b"!<arch>\n" + b"lib0.o/         0           0     0     644     4096      `\n" + OBJECT,
], ids=["tar", "tar.gz", "tar-in-tar", "ar"])
def test_archives_holding_object_files_are_native_code(server, content, tmp_path):
    model = tmp_path / "model.onnx"  # the name a client chooses says nothing
    model.write_bytes(content)
    refused = _refusal(server, model, SIDECAR)
    assert refused.code == E.REFUSED and "native code" in refused.text
    folder = tmp_path / "ir.openvino"  # and inside a directory model, after unpacking
    folder.mkdir()
    (folder / "model.xml").write_text("<net/>")
    (folder / "kernels.bin").write_bytes(content)
    refused = _refusal(server, folder, {**SIDECAR, "format": "openvino"})
    assert refused.code == E.REFUSED and "native code" in refused.text


def test_an_archive_too_large_to_inspect_is_refused(server, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(_tar({"zeros.bin": bytes(3 * 2**20)}, compress=True))  # 3 MiB in 3 KiB
    assert model.stat().st_size < 2**20
    refused = _refusal(server, model, SIDECAR)
    assert refused.code == E.REFUSED and "cannot be checked for native code" in refused.text


def test_a_framework_failing_at_inference_says_nothing_of_its_own(server, tmp_path):
    """ONNX Runtime's message about a failed Reshape stays in the server's log."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [3, -1])
    graph = helper.make_graph([helper.make_node("Reshape", ["input", "shape"], ["logits"])], "bad",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)], [shape])
    path = tmp_path / "reshape.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    channel = tcp_channel(server)
    client = hello(channel)
    client.upload(path, SIDECAR, None)
    client.request(MsgType.IOSPEC, m.pack_json(IO))
    client.request(MsgType.DATA, m.pack_tensors([np.ones((1, 4), np.float32)]))
    with pytest.raises(RemoteError) as failed:
        client.request(MsgType.PROCESS, expect=MsgType.PROCESS_STARTED)
        client.expect(MsgType.PROCESS_DONE)
    channel.close()
    assert failed.value.code == E.INFERENCE
    assert "incident" in failed.value.text and "Reshape" not in failed.value.text
    assert "ONNXRuntime" not in failed.value.text and "[3" not in failed.value.text


def test_a_model_asking_for_more_memory_than_allowed_fails_alone(tmp_path):
    """A 300-byte ONNX model whose first node wants 3.6 GB: the request fails, not the server."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [30000, 30000])
    graph = helper.make_graph([helper.make_node("ConstantOfShape", ["shape"], ["zeros"]),
                               helper.make_node("Add", ["zeros", "input"], ["logits"])], "huge",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)], [shape])
    path = tmp_path / "huge.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    io = {"inputs": [{"name": "input", "shape": [1]}], "outputs": [{"name": "logits", "shape": [-1, -1]}]}
    with server_process(tmp_path / "s.log", "--port", "0", "--max-memory-mb", "1024") as (proc, port):
        channel = tcp_channel(int(port))
        client = hello(channel)
        client.upload(path, {**SIDECAR, "io": io}, None)
        client.request(MsgType.IOSPEC, m.pack_json(io))
        client.request(MsgType.DATA, m.pack_tensors([np.ones(1, np.float32)]))
        with pytest.raises(RemoteError) as failed:
            client.request(MsgType.PROCESS, expect=MsgType.PROCESS_STARTED)
            client.expect(MsgType.PROCESS_DONE)
        assert failed.value.code == E.INFERENCE
        assert client.request(MsgType.PING, b"still here").payload == b"still here"
        channel.close()
        assert proc.poll() is None and healthy(int(port))


# --- micro-host on a server that allows native code: still no server files leave ------

@pytest.fixture(scope="module")
def micro_server(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("micro-host needs gcc (apt-get install gcc)")
    folder = tmp_path_factory.mktemp("micro-server")
    with server_process(folder / "server.log", "--port", "0", "--runtime", "micro-host",
                        "--allow-native-code", env={"HEITI_CACHE": str(folder / "cache")}) as (_, port):
        yield int(port), folder / "server.log"


def _c_project(folder: Path, model_c: str) -> tuple[Path, dict]:
    folder.mkdir()
    (folder / "model.c").write_text(model_c)
    (folder / "heiti_micro.c").write_text("int heiti_unused;\n")
    for header in ("model.h", "heiti_micro.h"):
        (folder / header).write_text("\n")
    details = {"input_scale": 1.0, "output_scale": 1.0, "input_size": 4, "output_size": 4}
    return folder, {**SIDECAR, "format": "c-int8", "provenance": {"producer": "x", "details": details}}


def test_compiler_output_quoting_a_server_file_stays_on_the_server(micro_server, tmp_path):
    port, log = micro_server
    secret = tmp_path / "secret.txt"  # a file of the server's, e.g. a key
    secret.write_text("TOPSECRET_7f3a = 1;\n")
    folder, sidecar = _c_project(tmp_path / "c", f'#include "{secret}"\n')
    refused = _refusal(port, folder, sidecar, {"type": "micro-host", "parameters": {}})
    assert refused.code == E.MODEL_LOAD and "incident" in refused.text
    assert "TOPSECRET" not in refused.text and str(secret) not in refused.text
    assert "TOPSECRET" in log.read_text()  # the operator sees what happened


def test_clients_cannot_choose_the_compiler(micro_server, tmp_path):
    port, _ = micro_server
    folder, sidecar = _c_project(tmp_path / "c", "int x;\n")
    refused = _refusal(port, folder, sidecar, {"type": "micro-host", "parameters": {"compiler": "sh"}})
    assert refused.code == E.REFUSED and "compiler" in refused.text and "operator" in refused.text
    # the server's own default, which every client's runtime description repeats, is fine:
    # this C builds, and only the missing model function fails the load
    failed = _refusal(port, folder, sidecar, {"type": "micro-host", "parameters": {"compiler": "gcc"}})
    assert failed.code == E.MODEL_LOAD


# --- runtime parameters within the operator's limits ----------------------------------

@pytest.mark.parametrize("threads", [2, 2000, 10**30, 0])
def test_threads_above_the_operators_limit_are_refused(server, onnx_model, threads):
    if threads == 0 and (os.cpu_count() or 1) < 2:
        pytest.skip("0 means one thread per core, within the limit of 1 on a 1-core machine")
    runtime = {"type": "onnxruntime", "parameters": {"threads": threads}}
    refused = _refusal(server, onnx_model, SIDECAR, runtime)
    assert refused.code == E.REFUSED and "limit of 1" in refused.text and "--max-threads" in refused.text
    channel = tcp_channel(server)
    client = hello(channel)
    assert client.server["limits"] == {"threads": 1}
    loaded = client.upload(onnx_model, SIDECAR, {"type": "onnxruntime", "parameters": {"threads": 1}})
    assert loaded["runtime"]["parameters"]["threads"] == 1
    channel.close()


# --- deadlines: nobody holds the server before authenticating ------------------------

def _trickle(port: int, data: bytes, gap: float, result: dict, prefix: bytes = b"") -> None:
    """Send ``prefix`` at once, then ``data`` a byte every ``gap`` seconds until the server
    lets go; record how many bytes of ``data`` it took (``result["sent"]``). ``result["trickling"]``
    is set once the connection is up (and past ``prefix``)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        if prefix:
            sock.sendall(prefix)
            sock.recv(4096)  # the HELLO reply
        result["trickling"].set()
        sent = 0
        for byte in data:
            if select.select([sock], [], [], gap)[0]:
                try:
                    if not sock.recv(4096):
                        break  # the server let go
                except OSError:
                    break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sent += 1
        result["sent"] = sent


def test_a_slow_client_does_not_block_a_legitimate_one(server, onnx_model):
    """Deadlines, checked by what happened rather than by the clock (the machine may be
    loaded): both tricklers are dropped before their messages are complete, and a legitimate
    session is served meanwhile."""
    ping = encode(MsgType.PING, b"p" * 40)
    unauthenticated, authenticated = {"trickling": threading.Event()}, {"trickling": threading.Event()}
    slow = [threading.Thread(target=_trickle, args=(server, HELLO, 0.25, unauthenticated)),
            threading.Thread(target=_trickle, args=(server, ping, 0.25, authenticated, HELLO))]
    for thread in slow:
        thread.start()
    assert unauthenticated["trickling"].wait(30) and authenticated["trickling"].wait(30)
    channel = tcp_channel(server, timeout=60)  # a legitimate session, while both trickle
    client = hello(channel)
    assert client.upload(onnx_model, SIDECAR, None)["runtime"]["type"] == "onnxruntime"
    client.bye()
    channel.close()
    for thread in slow:
        thread.join(120)
        assert not thread.is_alive()
    # dropped at the handshake deadline (1.5 s) and at the frame deadline (2 s) though each
    # kept sending: at a byte per 0.25 s, HELLO alone takes 8 s and the PING 13 s
    assert unauthenticated["sent"] < len(HELLO)
    assert authenticated["sent"] < len(ping)
    assert healthy(server)


# --- hostile control messages: rejected frames, never internal errors -----------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("msg_type, payload", [
    (MsgType.HELLO, '{"versions":' + DEEP + "}"),
    (MsgType.MODEL_BEGIN, '{"size":4,"sha256":"0","sidecar":{"io":' + DEEP + "}}"),
    (MsgType.MODEL_BEGIN, '{"size":4,"sha256":"0","runtime":{"parameters":' + "[" * 40 + "]" * 40 + "}}"),
    (MsgType.MODEL_BEGIN, '{"size":' + "9" * 5000 + ',"sha256":"0"}'),
    (MsgType.MODEL_BEGIN, '{"size":NaN,"sha256":"0"}'),
], ids=["deep-hello", "deep-sidecar", "40-deep", "5000-digit-number", "nan"])
def test_deep_or_huge_json_is_a_rejected_frame(server, msg_type, payload):
    prefix = b"" if msg_type == MsgType.HELLO else HELLO
    frames = send_and_collect(server, prefix + encode(msg_type, payload.encode()))
    code, text = error_of(frames)
    assert code == E.BAD_FRAME, text
    assert healthy(server)


def _junk_json():
    leaves = (st.none() | st.booleans() | st.text(max_size=6)
              | st.integers(-2**64, 2**64) | st.integers(300, 4000).map(lambda n: 10**n - 1)
              | st.floats(allow_nan=False, allow_infinity=False))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


JUNK_TEXT = st.one_of(_junk_json().map(json.dumps),
                      st.integers(33, 3000).map(lambda n: "[" * n + "]" * n),  # deep
                      st.sampled_from(["1e400", "-1e400", "9" * 4400, '"\\ud800"']))  # huge, odd


def _payload(valid: dict, junk: dict[str, str]) -> bytes:
    """``valid`` as JSON with the values at some dotted paths ("sidecar.io.inputs.0.shape")
    replaced by raw JSON texts; a path through a value already replaced is left out."""
    data = json.loads(json.dumps(valid))
    marks = {}  # placeholder -> raw text
    for i, (path, text) in enumerate(junk.items()):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) and key.isdigit() and int(key) < len(node) \
                else node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) or (isinstance(node, list) and last.isdigit() and int(last) < len(node)):
            node[int(last) if isinstance(node, list) else last] = mark = f"@junk{i}@"
            marks[json.dumps(mark)] = text
    payload = json.dumps(data)
    for mark, text in marks.items():
        payload = payload.replace(mark, text)
    return payload.encode()


def _junk_fields(keys: list[str]):
    """Mostly none (so that later messages are reached), else up to three fields replaced."""
    return st.one_of(*[st.just({})] * 3, st.dictionaries(st.sampled_from(keys), JUNK_TEXT, min_size=1,
                                                        max_size=3))


BEGIN_PATHS = ["name", "size", "sha256", "packing", "sidecar", "runtime", *(f"sidecar.{path}" for path in (
    "format", "io", "io.inputs", "io.inputs.0.shape", "io.inputs.0.dtype", "io.outputs", "provenance",
    "provenance.details", "provenance.details.native_code")),
    "runtime.parameters", "runtime.parameters.threads", "runtime.parameters.graph_optimization",
    "runtime.type"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(hello_junk=_junk_fields(["versions", "client"]), begin_junk=_junk_fields(BEGIN_PATHS),
       iospec_junk=_junk_fields(["inputs", "outputs", "class_names", "inputs.0", "inputs.0.shape"]))
def test_property_control_messages_with_wrong_types_deep_nesting_huge_numbers(
        server, onnx_model, hello_junk, begin_junk, iospec_junk):
    data = onnx_model.read_bytes()
    begin = {"name": "m.onnx", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
             "sidecar": SIDECAR, "runtime": {"type": "onnxruntime", "parameters": {"threads": 1}}}
    stream = (encode(MsgType.HELLO, _payload({"versions": [VERSION]}, hello_junk))
              + encode(MsgType.MODEL_BEGIN, _payload(begin, begin_junk)) + encode(MsgType.MODEL_CHUNK, data)
              + encode(MsgType.MODEL_END) + encode(MsgType.IOSPEC, _payload(IO, iospec_junk))
              + encode(MsgType.PING))
    frames = send_and_collect(server, stream)
    codes = [m.unpack_error(f.payload)[0] for f in frames if f.type == MsgType.ERROR]
    assert E.INTERNAL not in codes and all(c in E.__members__.values() for c in codes), codes
    assert frames, "the server answered nothing"
    event(f"answers {[MsgType(f.type).name for f in frames]} errors {[E(c).name for c in codes]}")


def test_server_stays_healthy_after_the_fuzzing(server):
    assert healthy(server)


# --- options and signals --------------------------------------------------------------

@pytest.mark.parametrize("option, value", [
    ("--idle-timeout", "inf"), ("--idle-timeout", "nan"), ("--idle-timeout", "1e300"),
    ("--max-upload-mb", "inf"), ("--max-upload-mb", "nan"), ("--handshake-timeout", "-1"),
    ("--max-threads", "0"), ("--max-memory-mb", "inf"), ("--worker-timeout", "0"),
])
def test_unreasonable_limits_are_refused_at_start(option, value):
    code, err = _exit_of(option, value)
    assert code == 2 and option in err and "Traceback" not in err


def test_sigterm_during_a_session_removes_the_uploaded_model(tmp_path, onnx_model):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with server_process(tmp_path / "s.log", "--port", "0", env={"TMPDIR": str(tmp)}) as (proc, port):
        channel = tcp_channel(int(port))
        client = hello(channel)
        client.upload(onnx_model, SIDECAR, None)
        client.request(MsgType.MODEL_BEGIN, m.pack_json({"name": "m.onnx", "size": 5000,
                                                         "sha256": "0" * 64}))
        client.request(MsgType.MODEL_CHUNK, b"x" * 1000)  # in the middle of a second upload
        assert len(list(tmp.glob("heiti-server-*/model.onnx"))) == 1
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM
        channel.close()
    assert list(tmp.glob("heiti-server-*")) == []
    assert "stopping (SIGTERM)" in (tmp_path / "s.log").read_text()


# --- the model process: a crash, abort or hang there is an ERROR, not the server's end --

def _model_pid(log: Path) -> int:
    """The process of the model loaded last, as the server logged it."""
    return int(re.findall(r"model loaded: .*, process (\d+)", log.read_text())[-1])


def _gone(pid: int) -> bool:
    """Wait (up to 10 s) for ``pid`` to be gone (the server reaps its model processes)."""
    import psutil

    try:
        psutil.Process(pid).wait(10)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True


def _sample(client: Client) -> list:
    import numpy as np

    client.request(MsgType.DATA, m.pack_tensors([np.array([[1, -2, 3, -4]], np.float32)]))
    client.request(MsgType.PROCESS, expect=MsgType.PROCESS_STARTED)
    client.expect(MsgType.PROCESS_DONE)
    return m.unpack_tensors(client.request(MsgType.OUTPUT, expect=MsgType.OUTPUT).payload)[0].tolist()


def _relu_session(port: int, onnx_model: Path) -> None:
    """A whole session: the ReLU model, one sample, BYE."""
    channel = tcp_channel(port, timeout=10)
    client = hello(channel)
    client.upload(onnx_model, SIDECAR, None)
    client.request(MsgType.IOSPEC, m.pack_json(IO))
    assert _sample(client) == [[1, 0, 3, 0]]
    client.bye()
    channel.close()


@pytest.fixture(scope="module")
def worker_server(tmp_path_factory):
    """A server that gives a model process 3 s to answer."""
    log = tmp_path_factory.mktemp("worker") / "server.log"
    with server_process(log, "--port", "0", "--worker-timeout", "3") as (proc, port):
        yield int(port), log
        assert proc.poll() is None, log.read_text()


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT, signal.SIGFPE, signal.SIGSTOP],
                         ids=["segfault", "abort", "fpe", "hang"])
def test_a_model_process_that_crashes_or_hangs_is_an_error_and_the_server_serves_on(
        worker_server, onnx_model, sig):
    """The model process gets the signal a crashing parser would raise (SIGSTOP: it stops
    answering): the client gets ERROR with an incident number and nothing else, the log
    has the signal, the same session can load the model again, the next client is served."""
    port, log = worker_server
    channel = tcp_channel(port)
    client = hello(channel)
    client.upload(onnx_model, SIDECAR, None)
    client.request(MsgType.IOSPEC, m.pack_json(IO))
    assert _sample(client) == [[1, 0, 3, 0]]
    pid = _model_pid(log)
    os.kill(pid, sig)
    with pytest.raises(RemoteError) as failed:
        _sample(client)
    assert failed.value.code == E.INFERENCE and "incident" in failed.value.text
    assert "SIG" not in failed.value.text and str(pid) not in failed.value.text
    incident = re.search(r"incident (\d+)", failed.value.text).group(1)
    why = "did not answer within 3 s" if sig == signal.SIGSTOP else f"was killed by {sig.name}"
    assert f"incident {incident}: model process {pid} {why}" in log.read_text()
    assert _gone(pid)
    with pytest.raises(RemoteError) as unloaded:  # the model went with its process
        _sample(client)
    assert unloaded.value.code == E.OUT_OF_ORDER
    channel.close()
    _relu_session(port, onnx_model)


def test_each_upload_gets_a_fresh_process_and_a_disconnect_ends_it(worker_server, onnx_model):
    port, log = worker_server
    channel = tcp_channel(port)
    client = hello(channel)
    client.upload(onnx_model, SIDECAR, None)
    first = _model_pid(log)
    client.upload(onnx_model, SIDECAR, None)
    second = _model_pid(log)
    assert second != first and _gone(first)
    channel.close()  # no BYE: the client just goes
    assert _gone(second)
    assert healthy(port)


# --- connection slots: idle connections cannot keep a client out ---------------------

def test_a_legitimate_session_completes_while_200_idle_connections_are_held(tmp_path, onnx_model):
    """200 connections that never send a byte, and an attacker reopening (up to 1,000
    times) each one the server drops, while a client connects and runs a whole session
    within its own 10-s deadlines (the idle ones would each hold a slot for the 10-s
    handshake deadline)."""
    with server_process(tmp_path / "s.log", "--port", "0", "--handshake-timeout", "10") as (proc, port):
        address = ("127.0.0.1", int(port))
        held = [socket.create_connection(address) for _ in range(200)]
        stop, reopened = threading.Event(), [0]

        def reopen() -> None:
            while not stop.is_set() and reopened[0] < 1000:
                for sock in select.select(held, [], [], 0.05)[0]:  # readable: dropped (end of stream)
                    held[held.index(sock)] = socket.create_connection(address)
                    sock.close()
                    reopened[0] += 1

        attacker = threading.Thread(target=reopen, daemon=True)
        attacker.start()
        try:
            _relu_session(int(port), onnx_model)  # with the client's 10-s timeouts
        finally:
            stop.set()
            attacker.join()
            for sock in held:
                sock.close()
        assert reopened[0] > 0  # the server dropped idle connections to make room
        assert proc.poll() is None and healthy(int(port))


# --- hostile model files: seeded byte mutants of valid ones ----------------------------

def _try_model(port: int, data: bytes, name: str, sidecar: dict, runtime: str, sample,
               timeout: float = 30) -> list | None:
    """Upload ``data`` and, if it loads, run one sample: the outputs, or None when the
    server answered ERROR somewhere (an ERROR ends this session; the next one is fresh)."""
    path = Path(sidecar["path_folder"]) / name
    path.write_bytes(data)
    channel = tcp_channel(port, timeout=timeout)
    try:
        client = hello(channel)
        client.upload(path, {k: v for k, v in sidecar.items() if k != "path_folder"},
                      {"type": runtime, "parameters": {}})
        client.request(MsgType.IOSPEC, m.pack_json(sidecar["io"]))
        client.request(MsgType.DATA, m.pack_tensors([sample]))
        client.request(MsgType.PROCESS, expect=MsgType.PROCESS_STARTED)
        client.expect(MsgType.PROCESS_DONE)
        return m.unpack_tensors(client.request(MsgType.OUTPUT, expect=MsgType.OUTPUT).payload)[0].tolist()
    except RemoteError:
        return None
    finally:
        channel.close()


@pytest.fixture(scope="module")
def model_server(tmp_path_factory):
    pytest.importorskip("tflite_micro", reason='pip install "heiti[tflm]"')
    pytest.importorskip("executorch", reason='pip install "heiti[executorch]"')
    log = tmp_path_factory.mktemp("models") / "server.log"
    with server_process(log, "--port", "0", "--runtime", "tflm,executorch", "--worker-timeout", "30") as (
            proc, port):
        yield int(port), log
        assert proc.poll() is None, log.read_text()


@pytest.mark.parametrize("runtime", ["tflm", "executorch"])
def test_mutated_model_files_get_ok_or_error_and_the_server_stays_the_same(model_server, runtime, tmp_path):
    """30 seeded byte mutants of a valid int8 .tflite (tflm) or an ExecuTorch program: each
    is answered OK or ERROR by a live server, and a valid session afterwards gives the
    outputs it gave before (benchmarks/model_mutants.py runs 1,000 of each)."""
    import numpy as np

    from hostile_models import PTE_IO, TFLITE_IO, int8_tflite, mutants, pte

    port, log = model_server
    if runtime == "tflm":
        valid, io, fmt, sample = int8_tflite(), TFLITE_IO, "tflite-int8", np.full((1, 8, 8, 1), 3, np.int8)
    else:
        valid, io, fmt, sample = pte(tmp_path / "valid.pte"), PTE_IO, "pte", np.ones((1, 4), np.float32)
    sidecar = {"format": fmt, "io": io, "provenance": {"producer": "test"}, "path_folder": str(tmp_path)}
    suffix = ".tflite" if runtime == "tflm" else ".pte"
    # (the first model process waits for the fork server to import torch: give it time)
    before = _try_model(port, valid, "valid" + suffix, sidecar, runtime, sample, timeout=300)
    assert before is not None
    for i, mutant in enumerate(mutants(valid, 30, seed=20)):
        _try_model(port, mutant, f"mutant{i}{suffix}", sidecar, runtime, sample)  # OK or ERROR
        assert healthy(port), f"mutant {i}"
    assert _try_model(port, valid, "valid" + suffix, sidecar, runtime, sample) == before
    assert "Traceback" not in log.read_text()


# --- firmware: no copy past a fixed buffer ----------------------------------------------

def test_firmware_answers_pings_of_every_size_up_to_its_maximum_message(tmp_path, trained_model_dir,
                                                                        monkeypatch):
    """The digits model with long class names: the firmware's receive buffer (sized for the
    IOSPEC that carries them) is larger than its transmit buffer, so a PING near the
    maximum cannot be echoed. PINGs from 0 bytes to the maximum get their echo or ERROR
    TOO_LARGE (never a write past the buffer), and the firmware still runs the model
    afterwards (on QEMU)."""
    import numpy as np

    from conftest import run_cli, scenario_dict, write_scenario
    from heiti import boards
    from heiti.boards.build import build_firmware
    from heiti.boards.qemu import Emulation
    from heiti.core.artifact import Artifact

    if not (shutil.which("qemu-system-riscv32") and shutil.which("riscv64-unknown-elf-gcc")):
        pytest.skip("QEMU and the RISC-V cross compiler are not installed (.ci/apt-packages)")
    shutil.copytree(trained_model_dir / "model", tmp_path / "model")
    chain = [{"type": "micro-ptq", "parameters": {"calibration_samples": 50}},
             {"type": "micro-c", "parameters": {"check_samples": 0, "cortex_m4": False}}]
    data = scenario_dict("fw", optimizers=chain, runtime={"type": "micro-host"},
                         test={"warmup": 0, "samples": 2}, report={"enabled": False})
    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    assert run_cli("run", write_scenario(tmp_path, data)) == 0
    artifact = Artifact.load(tmp_path / "build" / "02-micro-c")
    io = artifact.io.model_copy(update={"class_names": [f"digit {i} " + "x" * 150 for i in range(10)]})
    details = artifact.provenance.details
    board = boards.builtin()["riscv32-virt"]
    firmware = build_firmware(board, artifact.path, io, artifact.sha256, details["input_size"],
                              details["output_size"], profile=False)
    emulation = Emulation(board, firmware.elf)
    channel = Channel(SocketTransport(emulation.connect(10), "qemu", 10))
    client = Client(channel)
    try:
        largest = client.hello(None)["max_message"]
        assert largest > 1500  # the transmit buffer holds about 1.1 KB

        def echoed(size: int) -> bool:
            payload = bytes([size % 251]) * size
            channel.send(MsgType.PING, payload)
            frame = channel.recv()
            if frame.type == MsgType.ERROR:
                assert m.unpack_error(frame.payload)[0] == E.TOO_LARGE, size
                return False
            assert frame.type == MsgType.OK and frame.payload == payload, size
            return True

        # every 50th size and the largest, then every size around the last echo: the
        # emulated UART takes about a millisecond per byte, too slow for all 1,600 sizes
        coarse = {size: echoed(size) for size in [*range(0, largest, 50), largest]}
        last = max(size for size, ok in coarse.items() if ok)
        fine = {size: echoed(size) for size in range(last, min(last + 51, largest + 1))}
        assert coarse[0] and not coarse[largest] and True in fine.values() and False in fine.values()
        assert [ok for _, ok in sorted({**coarse, **fine}.items())] == sorted(
            {**coarse, **fine}.values(), reverse=True)  # echoes up to a size, TOO_LARGE beyond
        client.request(MsgType.DATA, m.pack_tensors([np.full((1, 1, 8, 8), 7, np.uint8)]))
        client.request(MsgType.PROCESS, expect=MsgType.PROCESS_STARTED)
        client.expect(MsgType.PROCESS_DONE)
        output = client.request(MsgType.OUTPUT, expect=MsgType.OUTPUT)
        assert m.unpack_tensors(output.payload)[0].shape == (1, 10)
    finally:
        channel.close()
        emulation.stop()


def test_mutated_tflite_files_through_micro_import_get_heitis_message(tmp_path, capsys):
    """The same seeded .tflite mutants through `heiti optimize` with micro-import-tflite:
    exit 0, 1 or 2 with heiti's own message, never an unexpected exception."""
    pytest.importorskip("tflite_micro", reason='pip install "heiti[tflm]"')
    from conftest import run_cli, scenario_dict, write_scenario
    from hostile_models import int8_tflite, mutants

    codes = []
    for i, mutant in enumerate([int8_tflite(), *mutants(int8_tflite(), 30, seed=20)]):
        model = tmp_path / f"m{i}.tflite"
        model.write_bytes(mutant)
        data = scenario_dict(f"m{i}", build_dir=f"b{i}", model={"type": "tflite-file", "path": str(model)},
                             optimizers=[{"type": "micro-import-tflite"}], runtime={"type": "micro-golden"})
        codes.append(run_cli("optimize", write_scenario(tmp_path, data, f"m{i}.yml")))
        err = capsys.readouterr().err
        assert codes[-1] in (0, 1, 2) and "unexpected" not in err and "Traceback" not in err, (i, err)
        assert codes[-1] == 0 or f"m{i}.tflite" in err, (i, err)  # the file is named
    assert codes[0] == 0 and 2 in codes
