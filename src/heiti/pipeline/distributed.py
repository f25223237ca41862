"""Work items on Ray: a local instance (``--ray``) or an existing cluster (``--ray-address``).

A pool keeps up to ``workers`` tasks in flight and hands results back as they finish,
so a caller can decide what to submit next (an AutoML search asks its sampler for the
next trial only when a worker is free). ``LocalPool`` runs the same calls in this
process, one at a time, so both paths share one code path and one result type.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from heiti.errors import InputError


class LocalPool:
    """Runs each submitted call at once, in this process."""

    def __init__(self) -> None:
        self._done: list[tuple[Any, Any]] = []
        self.workers = 1

    def submit(self, key: Any, fn: Callable[..., Any], *args: Any) -> None:
        self._done.append((key, fn(*args)))

    def pending(self) -> int:
        return len(self._done)

    def next_done(self) -> tuple[Any, Any]:
        return self._done.pop(0)

    def close(self) -> None:
        pass


class RayPool:
    """Calls run as Ray tasks (one CPU each); ``next_done`` returns the first to finish."""

    def __init__(self, address: str | None = None, workers: int | None = None):
        self.ray = _ray()
        self._owned = connect(address, workers)
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(workers or cpus, cpus))
        self._remote: dict[Callable[..., Any], Any] = {}
        self._refs: dict[Any, Any] = {}

    def submit(self, key: Any, fn: Callable[..., Any], *args: Any) -> None:
        remote = self._remote.setdefault(fn, self.ray.remote(num_cpus=1, max_retries=0)(fn))
        self._refs[remote.remote(*args)] = key

    def pending(self) -> int:
        return len(self._refs)

    def next_done(self) -> tuple[Any, Any]:
        """The first finished call's key and result (the exception when its task died)."""
        ready: list[Any] = []
        while not ready:  # short waits: Ctrl-C reaches this process between them
            ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=0.5)
        key = self._refs.pop(ready[0])
        try:
            return key, self.ray.get(ready[0])
        except Exception as exc:  # the worker crashed or was lost: the caller records it
            return key, exc

    def close(self) -> None:
        """Cancel what still runs (an interrupted search); stop the instance this pool started."""
        for ref in list(self._refs):
            self.ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owned:
            self.ray.shutdown()


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("running on Ray needs the Python module 'ray', which is not installed",
                         hint='pip install "heiti[automl]"') from None
    return ray


def connect(address: str | None = None, workers: int | None = None) -> bool:
    """Join the cluster at ``address`` or start a local instance with ``workers`` CPUs, unless
    this process is connected already; True when this call connected."""
    ray = _ray()
    if ray.is_initialized():
        return False
    # the workers import heiti from wherever this process does (a source checkout too)
    path = os.pathsep.join(p for p in [_heiti_root(), os.environ.get("PYTHONPATH", "")] if p)
    env = {"env_vars": {"PYTHONPATH": path}}
    try:
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, runtime_env=env,
                     log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot start or reach Ray{f' at {address}' if address else ''}: {exc}",
                         hint="'ray start --head' prints a cluster's address") from None
    return True


def pool(ray: bool, address: str | None, workers: int | None) -> LocalPool | RayPool:
    return RayPool(address, workers) if ray or address else LocalPool()


def _heiti_root() -> str:
    import heiti

    return os.path.dirname(os.path.dirname(os.path.abspath(heiti.__file__)))
