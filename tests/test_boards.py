"""heiti micro on emulated boards (real QEMU, real cross compilers): the firmware's outputs on
the whole digits test set are bit-identical to the golden model and the host C engine on
every built-in board; a model too large for a board fails before inference; a firmware
that faults or hangs ends the run with exit 1 and leaves no QEMU behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

import heiti
from conftest import run_cli, scenario_dict, write_scenario
from heiti import boards
from heiti.core.artifact import Artifact
from heiti.errors import InputError
from process_helpers import Lines

NEEDED = ("qemu-system-arm", "qemu-system-riscv32", "arm-none-eabi-gcc", "riscv64-unknown-elf-gcc")
pytestmark = pytest.mark.skipif(not all(shutil.which(p) for p in NEEDED),
                                reason="QEMU and the ARM/RISC-V cross compilers are not installed "
                                "(.ci/apt-packages)")
CHAIN = [{"type": "micro-ptq", "parameters": {"calibration_samples": 100}},
         {"type": "micro-c", "parameters": {"check_samples": 0, "cortex_m4": False}}]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private firmware cache: its path marks this module's QEMU processes."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("board-cache")
    mp.setenv("HEITI_CACHE", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def c_model(cache, tmp_path_factory, trained_model_dir) -> Path:
    """The session's digits model as a c-int8 artifact (scenario run once, on the host)."""
    folder = tmp_path_factory.mktemp("boards")
    shutil.copytree(trained_model_dir / "model", folder / "model")
    data = scenario_dict("host", optimizers=CHAIN, runtime={"type": "micro-host"},
                         test={"warmup": 0, "samples": 8}, report={"enabled": False})
    assert run_cli("run", write_scenario(folder, data)) == 0
    return folder


def _board_scenario(folder: Path, name: str, board: str, **test) -> Path:
    data = scenario_dict(name, build_dir="build", optimizers=CHAIN, runtime={"type": "micro-host"},
                         target={"kind": "qemu", "board": board}, report={"enabled": False},
                         test={"warmup": 1, **test})
    return write_scenario(folder, data, f"scenario-{name}.yml")


def _qemu_processes(cache: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "qemu-system" in text and str(cache) in text:
            found.append(text)
    return found


def test_built_in_boards_are_listed_and_a_user_board_file_is_checked(tmp_path, capsys):
    assert run_cli("list", "--kind", "board") == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("mps2-an386", "mps2-an500", "riscv32-virt"))
    assert run_cli("info", "mps2-an500") == 0
    assert "cortex-m7" in capsys.readouterr().out
    broken = boards.builtin()["mps2-an386"].model_dump() | {"clock_hz": "fast"}
    (tmp_path / "b.yml").write_text(yaml.safe_dump(broken))
    with pytest.raises(InputError, match="clock_hz"):
        boards.get("b.yml", tmp_path)


def test_the_firmware_receive_buffer_holds_the_models_own_iospec():
    """The host sends IOSPEC before any DATA; with many or long class names it is the
    largest message, and a too-small receive buffer would answer it with NAK."""
    from heiti.boards.build import config_header
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.protocols import messages as m

    io = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 1, 8, 8], dtype="uint8", scale=0.0625)],
                outputs=[TensorSpec(name="logits", shape=[-1, 40], dtype="int8", scale=0.1)],
                class_names=[f"class number {i} with a long name" for i in range(40)])
    header = config_header(boards.builtin()["mps2-an386"], io, "0" * 64, False, 64, 40, 3, {})
    limit = int(re.search(r"#define FW_MAX_MESSAGE (\d+)", header).group(1))
    assert limit >= len(m.pack_json(io.model_dump(mode="json", exclude_none=True)))


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "riscv32-virt"])
def test_board_outputs_equal_golden_and_host_c_on_the_whole_test_set(c_model, board, cache):
    from heiti.datasets.digits import Digits
    from heiti.micro import golden
    from heiti.micro.build import HostModel, host_library
    from heiti.micro.graph import Graph
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.micro_host import MicroHost
    from heiti.targets.qemu import Qemu

    artifact = Artifact.load(c_model / "build" / "02-micro-c")
    graph = Graph.load(c_model / "build" / "01-micro-ptq.npz")
    raw = artifact.io.inputs[0].quantize(Digits().split("test").x)
    assert raw.dtype == np.uint8
    target = Qemu({"board": board})
    executor = target.open(MicroHost(), artifact)
    try:
        loop = run_inference(executor, {"input": raw}, warmup=0, show_progress=False)
        board_out = loop.outputs[artifact.io.outputs[0].name]
    finally:
        executor.close()
    host = HostModel(host_library(artifact.path), raw[0].size, board_out.shape[1]).predict(raw)
    assert board_out.dtype == np.int8 and len(board_out) == len(raw) == 359
    assert np.array_equal(board_out, golden.predict(graph, raw))
    assert np.array_equal(board_out, host)
    summary = executor.target_statistics["board"]
    assert summary["inferences"] == 359
    assert summary["ram"]["used_bytes"] <= summary["ram"]["limit_bytes"]
    assert 0 < summary["stack"]["high_water_bytes"] < summary["stack"]["reserved_bytes"]
    convs = [row for row in summary["layers"] if row["kind"] == "conv2d"]
    assert convs and all(row["instructions"] > row["macs"] for row in convs)
    assert not _qemu_processes(cache)


def test_a_board_run_records_the_board_in_measurements_and_report(c_model):
    scenario = _board_scenario(c_model, "an386", "mps2-an386", samples=40)
    data = yaml.safe_load(scenario.read_text())
    data["report"] = {"enabled": True, "directory": "an386-report"}
    scenario.write_text(yaml.safe_dump(data))
    assert run_cli("run", scenario) == 0
    document = json.loads((c_model / "build" / "measurements.json").read_text())
    board = document["resources"]["target"]["board"]
    assert board["name"] == "mps2-an386" and board["flash"]["sections"][".rodata"] > 0
    assert board["instructions_per_mac"] > 1 and board["inferences"] == 41
    assert Path(board["firmware"]).is_file()
    assert document["environment"]["target"]["cpu"] == "cortex-m4"
    assert document["quality"]["metrics"]["accuracy"] > 0.8
    report = (c_model / "an386-report" / "report.md").read_text()
    section = report[report.index("## Board"):]
    assert "| flash | " in section and "instructions / MAC" in section and "conv2d" in section
    assert "QEMU counts instructions, not cycles" in section


def test_a_model_too_large_for_the_board_fails_before_inference(c_model, capsys):
    from heiti.boards.build import build_firmware

    small = boards.builtin()["mps2-an386"].model_copy(
        update={"flash": boards.Region(origin=0, size=4096)})  # same name: same strings
    (c_model / "tiny-board.yml").write_text(yaml.safe_dump(small.model_dump()))
    artifact = Artifact.load(c_model / "build" / "02-micro-c")
    details = artifact.provenance.details
    fits = build_firmware(boards.builtin()["mps2-an386"], artifact.path, artifact.io, artifact.sha256,
                          details["input_size"], details["output_size"])
    capsys.readouterr()
    assert run_cli("run", _board_scenario(c_model, "tiny", "tiny-board.yml")) == 2
    err = capsys.readouterr().err
    over = re.search(r"FLASH needs \d+ bytes \(.text \d+, .rodata \d+, .data \d+\), (\d+) bytes over", err)
    assert over and int(over.group(1)) == fits.flash_bytes - 4096
    assert "inference" not in err
    # no floating point anywhere in the firmware: no soft-float helper was linked
    symbols = subprocess.run(["arm-none-eabi-nm", str(fits.elf)], capture_output=True, text=True).stdout
    assert "heiti_model_run" in symbols
    assert not re.search(r"__aeabi_[fd](add|sub|mul|div|2)|__(add|mul|div|sub)[sd]f3", symbols)
    assert "depthwise" not in symbols  # the digits model has none: their DSP paths stay out


def test_the_dsp_depthwise_paths_are_compiled_only_for_models_with_depthwise_layers(tmp_path):
    from heiti.micro import codegen
    from heiti.micro.build import M4_COMPILER, M4_FLAGS

    for depthwise in (False, True):
        folder = tmp_path / f"depthwise-{depthwise}"
        folder.mkdir()
        (folder / "heiti_micro.c").write_text(codegen.library_source(depthwise=depthwise), encoding="utf-8")
        shutil.copyfile(Path(codegen.__file__).parent / "c" / "heiti_micro.h", folder / "heiti_micro.h")
        subprocess.run([M4_COMPILER, *M4_FLAGS, "heiti_micro.c", "-o", "library.o"], cwd=folder, check=True)
        symbols = subprocess.run(["arm-none-eabi-nm", "library.o"], cwd=folder, capture_output=True,
                                 text=True, check=True).stdout
        assert ("depthwise_planes" in symbols) == depthwise and "conv_dsp" in symbols


def test_a_missing_cross_compiler_or_qemu_names_the_debian_package(c_model, capsys, tmp_path,
                                                                    monkeypatch):
    """... and leaves no temporary folder behind (QEMU's socket folder was left when the
    emulator was missing)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this test's own temporary folders
    board = boards.builtin()["riscv32-virt"].model_dump()
    for part, program in (("toolchain", "compiler"), ("qemu", "program")):
        broken = {**board, part: {**board[part], program: "heiti-missing-tool",
                                  "package": "heiti-missing-package"}}
        (c_model / "missing.yml").write_text(yaml.safe_dump(broken))
        capsys.readouterr()
        assert run_cli("run", _board_scenario(c_model, "missing", "missing.yml", samples=4)) == 2
        err = capsys.readouterr().err
        assert "'heiti-missing-tool' is not on PATH" in err
        assert "hint: apt-get install heiti-missing-package" in err
    assert not list(tmp_path.iterdir())


BOARD_MISTAKES = [
    ({"stack_bytes": 2**30}, "stack_bytes: Input should be less than or equal to 67108864"),
    ({"stack_bytes": 6 * 2**20}, "stack_bytes: Value error, 6,291,456 bytes do not fit in the "
                                 "board's RAM (4,194,304 bytes"),
    ({"name": "../../escape"}, "name: String should match pattern"),
    ({"cpu": "m4\"\n#error"}, "cpu: String should match pattern"),
    ({"ram": {"origin": 0x100000, "size": 0x400000}}, "ram: Value error, overlaps flash"),
    ({"flash": {"origin": 0xFFFF0000, "size": 0x20000}},
     "flash: Value error, origin 0xffff0000 + size 131,072 ends beyond the 32-bit address space"),
    ({"clock_hz": 2**40}, "clock_hz: Input should be less than or equal to 4294967295"),
]


@pytest.mark.parametrize(("change", "message"), BOARD_MISTAKES)
def test_a_board_file_with_impossible_values_is_refused_naming_the_field(tmp_path, capsys, change,
                                                                        message):
    board = boards.builtin()["mps2-an386"].model_dump() | change
    (tmp_path / "my-board.yml").write_text(yaml.safe_dump(board))
    data = scenario_dict(target={"kind": "qemu", "board": "my-board.yml"}, optimizers=CHAIN,
                         runtime={"type": "micro-host"})
    assert run_cli("test", write_scenario(tmp_path, data)) == 2  # before anything is built
    err = capsys.readouterr().err
    assert "is not a valid board" in err and message in err and "Traceback" not in err


def test_a_board_file_that_is_not_utf8_is_bad_input(tmp_path, capsys):
    text = yaml.safe_dump(boards.builtin()["mps2-an386"].model_dump())
    (tmp_path / "latin1.yml").write_bytes(text.replace("ARM MPS2", "ARM MPS2 \xe9").encode("latin-1"))
    data = scenario_dict(target={"kind": "qemu", "board": "latin1.yml"}, optimizers=CHAIN,
                         runtime={"type": "micro-host"})
    assert run_cli("test", write_scenario(tmp_path, data)) == 2
    err = capsys.readouterr().err
    assert "latin1.yml' is not UTF-8 text" in err and "hint: save it as UTF-8" in err


def _broken_model(folder: Path, name: str, statement: str) -> Path:
    """A copy of the c-int8 step whose heiti_model_run starts with ``statement``: the flow's
    step cache takes it as the chain's output (the sidecar is re-saved with its new hash)."""
    shutil.copytree(folder / "model", folder / name / "model")
    shutil.copytree(folder / "build", folder / name / "build",
                    ignore=shutil.ignore_patterns("measurements.json", "report"))
    model_c = folder / name / "build" / "02-micro-c" / "model.c"
    text = model_c.read_text()
    head = "{\n    int8_t *const A = (int8_t *)arena;\n"
    model_c.write_text(text.replace(head, head + f"    {statement}\n", 1))
    Artifact.load(model_c.parent).save()
    return folder / name


@pytest.mark.parametrize(("case", "board", "statement", "expected"), [
    ("fault", "mps2-an386", "__builtin_trap();",
     r"INTERNAL: hard fault: pc=0x[0-9a-f]{8}, lr=.*; QEMU exited with status 1"),
    ("trap", "riscv32-virt", "__builtin_trap();",
     r"INTERNAL: trap: mcause=0x00000003, mepc=.*; QEMU exited with status 1"),
    ("hang", "mps2-an386", "for (;;) {}", r"no answer within the timeout"),
])
def test_a_faulting_or_hanging_firmware_fails_the_run_and_stops_qemu(c_model, cache, capsys, case,
                                                                     board, statement, expected):
    folder = _broken_model(c_model, case, statement)
    scenario = _board_scenario(folder, case, board, samples=4)
    data = yaml.safe_load(scenario.read_text())
    data["target"]["timeout_s"] = 2
    scenario.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert run_cli("run", scenario) == 1
    assert re.search(expected, capsys.readouterr().err)
    assert not (folder / "build" / "measurements.json").exists()
    assert not _qemu_processes(cache)


def test_firmware_speaks_the_protocol_naks_damaged_frames_and_resends_on_nak(c_model, cache):
    from heiti.boards.build import build_firmware
    from heiti.boards.qemu import Emulation
    from heiti.protocols import messages as m
    from heiti.protocols.channel import Channel
    from heiti.protocols.framing import VERSION, encode
    from heiti.protocols.messages import MsgType
    from heiti.protocols.transports import SocketTransport

    artifact = Artifact.load(c_model / "build" / "02-micro-c")
    details = artifact.provenance.details
    board = boards.builtin()["riscv32-virt"]
    firmware = build_firmware(board, artifact.path, artifact.io, artifact.sha256,
                              details["input_size"], details["output_size"], profile=False)
    emulation = Emulation(board, firmware.elf)
    channel = Channel(SocketTransport(emulation.connect(10), "qemu", 10))

    def ask(msg_type: int, payload: bytes = b"", flags: int = 0) -> tuple[int, bytes]:
        channel.send(msg_type, payload, flags)
        frame = channel.recv()
        return frame.type, frame.payload

    try:
        assert ask(MsgType.HELLO, m.pack_json({"versions": [7]}))[0] == MsgType.ERROR
        kind, payload = ask(MsgType.HELLO, m.pack_json({"versions": [VERSION], "client": "test"}))
        hello = m.unpack_json(payload)
        assert kind == MsgType.HELLO and hello["model_sha256"] == artifact.sha256
        assert ask(MsgType.PING, b"xyz") == (MsgType.OK, b"xyz")
        damaged = bytearray(encode(MsgType.PING, b"abc"))
        damaged[-1] ^= 0xFF
        channel.transport.send(bytes(damaged))
        assert channel.recv().type == MsgType.NAK
        channel.transport.send(encode(MsgType.NAK))  # "your last transmission was damaged"
        assert channel.recv().payload == b"xyz"
        wrong = m.pack_tensors([np.zeros((1, 1, 8, 7), dtype=np.uint8)])
        kind, payload = ask(MsgType.DATA, wrong)
        assert kind == MsgType.ERROR and m.unpack_error(payload)[0] == m.ErrorCode.BAD_INPUT
        kind, payload = ask(MsgType.MODEL_BEGIN, m.pack_json({"size": 1, "sha256": "0" * 64}))
        assert m.unpack_error(payload)[0] == m.ErrorCode.REFUSED
        begin = m.pack_json({"size": 3, "sha256": artifact.sha256})
        assert [ask(t, p)[0] for t, p in ((MsgType.MODEL_BEGIN, begin), (MsgType.MODEL_CHUNK, b"abc"),
                                          (MsgType.MODEL_END, b""))] == [MsgType.OK] * 3
        raw = np.full((1, 1, 8, 8), 7, dtype=np.uint8)
        assert ask(MsgType.DATA, m.pack_tensors([raw]))[0] == MsgType.OK
        assert ask(MsgType.PROCESS)[0] == MsgType.PROCESS_STARTED
        assert channel.recv().type == MsgType.PROCESS_DONE
        kind, payload = ask(MsgType.OUTPUT)
        assert kind == MsgType.OUTPUT and m.unpack_tensors(payload)[0].dtype == np.int8
        stats = m.unpack_json(ask(MsgType.STATS)[1])
        assert stats["inferences"] == 1 and "layer_instructions" not in stats  # not a profiling build
        assert stats["instructions"]["min"] == stats["instructions"]["total"] > 0
        assert ask(0x7E)[0] == MsgType.ERROR  # unknown type: the session ends
        assert ask(MsgType.PING)[0] == MsgType.ERROR  # HELLO first
    finally:
        channel.close()
        emulation.stop()
    assert not _qemu_processes(cache)


def test_ctrl_c_during_a_hung_inference_stops_qemu(c_model, cache):
    folder = _broken_model(c_model, "interrupted", "for (;;) {}")
    scenario = _board_scenario(folder, "interrupted", "mps2-an386", samples=4)
    env = {**os.environ, "PYTHONPATH": str(Path(heiti.__file__).parents[1])}
    heiti_run = subprocess.Popen([sys.executable, "-m", "heiti", "run", str(scenario)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = Lines(heiti_run.stderr)
    try:
        err.wait_for("target 'qemu' ready; inference starts")  # the firmware is in its handshake's end
        assert _qemu_processes(cache)
        heiti_run.send_signal(signal.SIGINT)  # the first inference never ends: it is interrupted
        assert heiti_run.wait(timeout=60) == 130, err.finish()
    finally:
        if heiti_run.poll() is None:
            heiti_run.kill()
    assert not _qemu_processes(cache)


def test_the_same_firmware_serves_a_serial_remote_target(c_model, cache):
    """A real board's view: the firmware's UART on a pseudo-terminal, reached by the ordinary
    serial remote target (which skips the upload: the firmware carries the model)."""
    pytest.importorskip("serial")
    from heiti.boards.build import build_firmware
    from heiti.boards.qemu import qemu_command

    artifact = Artifact.load(c_model / "build" / "02-micro-c")
    details = artifact.provenance.details
    board = boards.builtin()["mps2-an386"]
    firmware = build_firmware(board, artifact.path, artifact.io, artifact.sha256,
                              details["input_size"], details["output_size"])
    qemu = subprocess.Popen(qemu_command(board, firmware.elf, "pty,id=uart"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        port = re.search(r"/dev/pts/\d+", qemu.stdout.readline()).group(0)
        data = scenario_dict("serial", build_dir="build", optimizers=CHAIN, runtime={"type": "micro-host"},
                             target={"kind": "remote", "protocol": "serial", "port": port,
                                     "timeout_s": 10}, report={"enabled": False},
                             test={"warmup": 1, "samples": 20})
        assert run_cli("run", write_scenario(c_model, data, "scenario-serial.yml")) == 0
    finally:
        qemu.kill()
        qemu.wait()
    document = json.loads((c_model / "build" / "measurements.json").read_text())
    assert document["environment"]["target"]["board"] == "mps2-an386"
    assert document["performance"]["target_latency_ms"]["p50"] > 0
    assert document["resources"]["target"]["inferences"] == 21
    assert document["quality"]["metrics"]["accuracy"] > 0.8
