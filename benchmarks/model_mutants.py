"""Hostile model files against `heiti server` and `micro-import-tflite` (issue 20).

Seeded byte mutants of a valid int8 .tflite (runtime tflm) and of an ExecuTorch
program (runtime executorch) are uploaded to one `heiti server`, each in a session of
its own: upload, and if it loads, one sample. Counted: answers OK / ERROR, model
processes the server saw crash or hang (from its log), whether the server answered a
PING after every mutant, and whether a valid session afterwards gives the outputs it
gave before. Then the same .tflite mutants go through `heiti optimize` with
micro-import-tflite, each in a process of its own: exit codes, tracebacks, signals.

    python benchmarks/model_mutants.py [--count 1000] [--seed 20] [--part server|import|both]

The valid models and the mutation come from tests/hostile_models.py (shared with the
test suite, which runs a few dozen of each).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from hostile_models import PTE_IO, TFLITE_IO, int8_tflite, mutants, pte  # noqa: E402


def start_server(log: Path) -> tuple[subprocess.Popen, int]:
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "heiti", "server", "--port", "0", "--runtime",
                                 "tflm,executorch", "--worker-timeout", "30"], stderr=err,
                                stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (found := re.search(r"listening on tcp://[^:]+:(\d+)", log.read_text())):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"server did not start: {log.read_text()}")
        time.sleep(0.1)
    return proc, int(found.group(1))


def session(port: int, path: Path, sidecar: dict, runtime: str, sample: np.ndarray,
            timeout: float = 60) -> list | str:
    """Upload ``path``, and if it loads run ``sample``: the outputs, or the error's name."""
    from heiti.protocols import messages as m
    from heiti.protocols.channel import Channel
    from heiti.protocols.client import Client, RemoteError
    from heiti.protocols.messages import MsgType
    from heiti.protocols.transports import SocketTransport

    channel = Channel(SocketTransport.connect("127.0.0.1", port, 10, timeout))
    try:
        client = Client(channel)
        client.hello(None)
        client.upload(path, sidecar, {"type": runtime, "parameters": {}})
        client.request(MsgType.IOSPEC, m.pack_json(sidecar["io"]))
        client.request(MsgType.DATA, m.pack_tensors([sample]))
        client.request(MsgType.PROCESS, expect=MsgType.PROCESS_STARTED)
        client.expect(MsgType.PROCESS_DONE)
        return m.unpack_tensors(client.request(MsgType.OUTPUT, expect=MsgType.OUTPUT).payload)[0].tolist()
    except RemoteError as exc:
        return m.error_name(exc.code)
    finally:
        channel.close()


def alive(port: int) -> bool:
    from heiti.protocols.channel import Channel
    from heiti.protocols.client import Client
    from heiti.protocols.messages import MsgType
    from heiti.protocols.transports import SocketTransport

    try:
        channel = Channel(SocketTransport.connect("127.0.0.1", port, 10, 30))
        client = Client(channel)
        client.hello(None)
        ok = client.request(MsgType.PING, b"ping").payload == b"ping"
        channel.close()
        return ok
    except OSError:
        return False


def _lost(log: str) -> list[str]:
    """Why each model process the server lost ended, in the order of its log."""
    return re.findall(r"incident \d+: model process \d+ (was killed by \w+|did not answer)", log)


def _counts(counter: collections.Counter) -> str:
    return ", ".join(f"{key}: {value}" for key, value in sorted(counter.items()))


def server_run(folder: Path, count: int, seed: int) -> list[str]:
    log = folder / "server.log"
    proc, port = start_server(log)
    rows = []
    try:
        for runtime in ("tflm", "executorch"):
            if runtime == "tflm":
                valid, io, fmt, suffix = int8_tflite(), TFLITE_IO, "tflite-int8", ".tflite"
                sample = np.full((1, 8, 8, 1), 3, np.int8)
            else:
                valid, io, fmt, suffix = pte(folder / "valid.pte"), PTE_IO, "pte", ".pte"
                sample = np.ones((1, 4), np.float32)
            sidecar = {"format": fmt, "io": io, "provenance": {"producer": "benchmark"}}
            path = folder / f"model{suffix}"
            path.write_bytes(valid)
            before = session(port, path, sidecar, runtime, sample, timeout=600)  # the fork server starts
            lost_before = len(_lost(log.read_text()))
            answers: collections.Counter = collections.Counter()
            dead = 0
            started = time.monotonic()
            for mutant in mutants(valid, count, seed):
                path.write_bytes(mutant)
                result = session(port, path, sidecar, runtime, sample)
                answers["OK (ran a sample)" if isinstance(result, list) else f"ERROR {result}"] += 1
                dead += not alive(port)
            elapsed = time.monotonic() - started
            path.write_bytes(valid)
            after = session(port, path, sidecar, runtime, sample)
            lost = collections.Counter(_lost(log.read_text())[lost_before:])
            rows.append(f"| {runtime} | {count} | {_counts(answers)} | {_counts(lost) or 'none'} "
                        f"| {count - dead} of {count} | {'yes' if after == before else 'NO'} "
                        f"| {elapsed / count * 1000:.0f} |")
    finally:
        proc.terminate()
        proc.wait()
    return rows


def _cli_in_child(args: list[str], err: Path) -> tuple[int, str]:
    """`heiti ARGS` in a forked child of this process (heiti and tflite-micro imported
    once, a fresh process per file): exit code (negative: the signal) and stderr."""
    from heiti.cli import main as heiti_main

    pid = os.fork()
    if pid == 0:  # the child: stderr to a file, never back into the parent
        fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)
        os.dup2(fd, 1)
        try:
            code = heiti_main(args)
        except BaseException:  # an escape from the CLI's own handling: print it as Python would
            import traceback

            traceback.print_exc()
            code = 99
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, err.read_text(errors="replace")


def _warm_up(folder: Path, yaml) -> None:
    """Run the valid model through the CLI once in this process, so that every child
    starts with heiti, its components and the dataset imported."""
    import contextlib
    import io

    from heiti.cli import main as heiti_main

    model = folder / "valid.tflite"
    model.write_bytes(int8_tflite())
    scenario = folder / "valid.yml"
    scenario.write_text(yaml.safe_dump({
        "name": "valid", "build_dir": "valid", "dataset": {"type": "digits"},
        "model": {"type": "tflite-file", "path": str(model)},
        "optimizers": [{"type": "micro-import-tflite"}], "runtime": {"type": "micro-golden"}}))
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        if heiti_main(["optimize", str(scenario)]) != 0:
            sys.exit("the valid model does not import")


def import_run(folder: Path, count: int, seed: int) -> str:
    import yaml

    codes: collections.Counter = collections.Counter()
    _warm_up(folder, yaml)
    tracebacks = unexpected = unnamed = 0
    for i, mutant in enumerate(mutants(int8_tflite(), count, seed)):
        model = folder / f"m{i}.tflite"
        model.write_bytes(mutant)
        scenario = folder / f"m{i}.yml"
        scenario.write_text(yaml.safe_dump({
            "name": f"m{i}", "build_dir": f"b{i}", "dataset": {"type": "digits"},
            "model": {"type": "tflite-file", "path": str(model)},
            "optimizers": [{"type": "micro-import-tflite"}], "runtime": {"type": "micro-golden"}}))
        code, stderr = _cli_in_child(["optimize", str(scenario)], folder / f"m{i}.err")
        codes[f"signal {-code}" if code < 0 else f"exit {code}"] += 1
        tracebacks += "Traceback" in stderr
        unexpected += "unexpected" in stderr
        # the file named: the user's, or its copy in the build folder that the step read
        unnamed += code != 0 and model.name not in stderr and "model.tflite'" not in stderr
    return (f"| micro-import-tflite | {count} | {_counts(codes)} "
            f"| tracebacks: {tracebacks}, 'unexpected' errors: {unexpected}, failures not naming the "
            f"file: {unnamed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--part", choices=["server", "import", "both"], default="both")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        if args.part != "import":
            rows = server_run(Path(tmp), args.count, args.seed)
            print(f"seed {args.seed}; one `heiti server --runtime tflm,executorch` for all mutants")
            print("| runtime | mutants | answers | model processes lost (server log) | server alive after "
                  "| valid session after gives the same outputs | ms per mutant |")
            print("|---|---|---|---|---|---|---|")
            print("\n".join(rows))
        if args.part != "server":
            print()
            print("| step | mutants | exit | messages |")
            print("|---|---|---|---|")
            print(import_run(Path(tmp), args.count, args.seed))


if __name__ == "__main__":
    main()
