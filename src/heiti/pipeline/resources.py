"""CPU and memory usage of this process, sampled from a background thread."""

from __future__ import annotations

import threading
import time
from typing import Any


class ResourceSampler:
    """Samples CPU % (of one core) and RSS every ``interval_s`` while in a ``with`` block."""

    def __init__(self, interval_s: float = 0.05):
        import psutil

        self.interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="heiti-resources", daemon=True)
        self.times_s: list[float] = []
        self.cpu_percent: list[float] = []
        self.rss_mb: list[float] = []

    def __enter__(self) -> ResourceSampler:
        self._start = time.perf_counter()
        self._process.cpu_percent(None)  # the first reading only sets the reference point
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._record()

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._record()

    def _record(self) -> None:
        self.times_s.append(round(time.perf_counter() - self._start, 4))
        self.cpu_percent.append(self._process.cpu_percent(None))
        self.rss_mb.append(round(self._process.memory_info().rss / 2**20, 2))

    def summary(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, float]:
            if not values:
                return {"mean": 0.0, "max": 0.0}
            return {"mean": round(sum(values) / len(values), 2), "max": max(values)}

        return {"interval_s": self.interval_s, "cpu_percent": stats(self.cpu_percent),
                "rss_mb": stats(self.rss_mb),
                "series": {"t_s": self.times_s, "cpu_percent": self.cpu_percent, "rss_mb": self.rss_mb}}
