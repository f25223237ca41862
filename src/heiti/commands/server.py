"""``heiti server``: run models for a remote host over TCP, a serial line or a pipe."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Callable

# sane upper bounds of the numeric options (a day; 16 GiB uploads; 1024 threads; 1 PiB)
MAX_SECONDS = 86400.0
MAX_UPLOAD_MB = 16384.0
MAX_THREADS = 1024
MAX_MEMORY_MB = 2.0**30  # a petabyte


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "server", help="serve as a remote target: receive a model, run inference for a host")
    parser.add_argument("--runtime", default="onnxruntime", metavar="NAME[,NAME...]",
                        help="runtimes clients may use; the first is the default (default: onnxruntime)")
    parser.add_argument("--protocol", choices=["tcp", "serial", "pipe"], default="tcp",
                        help="tcp, serial, or pipe (this process's stdin/stdout)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="tcp: address to bind (default: loopback; any other needs a token)")
    parser.add_argument("--port", default=None,
                        help="tcp: port number (default 12345; 0 picks a free one); serial: device")
    parser.add_argument("--baud", type=int, default=115200, help="serial: baud rate")
    parser.add_argument("--token", default=None,
                        help="shared secret for HMAC challenge-response (default: $HEITI_TOKEN)")
    parser.add_argument("--allow-native-code", action="store_true",
                        help="accept runtimes that run native code from the models clients upload "
                             "(micro-host, tvm, iree) and models carrying shared libraries or "
                             "executables: only when every client that can connect is trusted")
    parser.add_argument("--max-upload-mb", type=float, default=64.0, help="largest model accepted")
    parser.add_argument("--max-memory-mb", type=float, default=None, metavar="MB",
                        help="Linux: heap and anonymous memory the server may use; allocations "
                             "beyond fail the client's request, not the machine (default: three "
                             "quarters of this machine's memory)")
    parser.add_argument("--max-threads", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="largest 'threads' runtime parameter a client may ask for "
                             "(default: the number of CPU cores)")
    parser.add_argument("--idle-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="drop a client silent for this long, or taking longer to send one "
                             "frame, so that the next one is served (default: 60)")
    parser.add_argument("--handshake-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="tcp: drop a client not authenticated this long after connecting "
                             "(default: 10)")
    parser.add_argument("--worker-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="longest a model's process may take to load it or to answer one "
                             "request; past it the process is killed and the client gets an "
                             "error (default: 120)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti import registry
    from heiti.core.addresses import is_loopback
    from heiti.errors import InputError
    from heiti.protocols import serve, worker
    from heiti.protocols.server import ServerConfig

    runtimes = [name.strip() for name in args.runtime.split(",") if name.strip()]
    if not runtimes:
        raise InputError("--runtime: name at least one runtime")
    native = [name for name in runtimes if registry.get("runtime", name).executes_native_code]
    if native and not args.allow_native_code:
        raise InputError(f"--runtime {', '.join(native)}: loading a model there runs native code "
                         "from the model (compiled or embedded), so any client could run code "
                         "on this machine",
                         hint="pass --allow-native-code only when every client that can connect "
                         "is trusted with that; see docs/security.md")
    token = args.token or os.environ.get("HEITI_TOKEN") or None
    if args.protocol == "tcp" and token is None and not is_loopback(args.host):
        raise InputError(f"--host {args.host} is reachable from other machines, so a token is required",
                         hint="pass --token SECRET or set HEITI_TOKEN (clients need the same secret)")
    _bounded("--max-upload-mb", args.max_upload_mb, MAX_UPLOAD_MB)
    _bounded("--idle-timeout", args.idle_timeout, MAX_SECONDS)
    _bounded("--handshake-timeout", args.handshake_timeout, MAX_SECONDS)
    _bounded("--worker-timeout", args.worker_timeout, MAX_SECONDS)
    _bounded("--max-threads", args.max_threads, MAX_THREADS)
    memory_mb = args.max_memory_mb if args.max_memory_mb is not None else _default_memory_mb()
    _bounded("--max-memory-mb", memory_mb, MAX_MEMORY_MB)
    config = ServerConfig(runtimes=runtimes, token=token, allow_native_code=args.allow_native_code,
                          max_upload=int(args.max_upload_mb * 2**20), max_threads=args.max_threads,
                          idle_timeout=args.idle_timeout, handshake_timeout=args.handshake_timeout,
                          worker_timeout=args.worker_timeout,
                          log=_log)
    previous = signal.signal(signal.SIGTERM, _stop)
    unlimit = _limit_memory(memory_mb)
    try:
        worker.start(config.runtimes)
        if args.protocol == "tcp":
            serve.serve_tcp(config, args.host, _tcp_port(args.port), announce=_log)
        elif args.protocol == "serial":
            if not args.port:
                raise InputError("--port: a serial server needs a device, e.g. --port /dev/ttyUSB0")
            serve.serve_serial(config, args.port, args.baud, announce=_log)
        else:
            serve.serve_pipe(config)
    except ModuleNotFoundError as exc:
        raise InputError(f"the serial protocol needs pyserial ({exc.name} is missing)",
                         hint='pip install "heiti[remote]"') from None
    except OSError as exc:  # address in use, no such device, permission denied
        where = f"{args.host}:{args.port or 12345}" if args.protocol == "tcp" else args.port or "stdio"
        raise InputError(f"cannot serve on {args.protocol} {where}: {exc}") from None
    finally:  # for callers in this process (tests): as it was
        signal.signal(signal.SIGTERM, previous)
        unlimit()
    return 0


def _bounded(option: str, value: float, upper: float) -> None:
    from heiti.errors import InputError

    if not (math.isfinite(value) and 0 < value <= upper):
        raise InputError(f"{option} {value}: give a positive number up to {upper:g}")


def _default_memory_mb() -> float:
    import psutil

    return 0.75 * psutil.virtual_memory().total / 2**20


def _limit_memory(mb: float) -> Callable[[], None]:
    """Set RLIMIT_DATA (Linux ≥ 4.7: the heap and private anonymous mappings, not shared
    libraries): a model that asks for more gets a failed allocation, which its runtime
    reports as an error of that request, instead of the kernel's OOM killer. Returns
    what undoes it."""
    try:
        import resource
    except ImportError:  # not a Unix
        return lambda: None
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = int(mb * 2**20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    return lambda: resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _stop(signum: int, frame: object) -> None:
    """SIGTERM: unwind like an exception, so that the session in progress closes and
    removes its uploaded files."""
    _log("stopping (SIGTERM)")
    raise SystemExit(128 + signum)


def _tcp_port(text: str | None) -> int:
    from heiti.errors import InputError

    try:
        port = int(text) if text is not None else 12345
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise InputError(f"--port: '{text}' is not a TCP port number")
    return port


def _log(message: str) -> None:
    from heiti.terminal import shown

    print(f"heiti server: {shown(message)}", file=sys.stderr, flush=True)
