"""Results as JSON lines in a file, one record per line, flushed as they come."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from pydantic import Field

from heiti.core.component import Params
from heiti.flows.sinks import STATISTICS_SCHEMA, records
from heiti.flows.stage import Item, Sink


class JsonLinesParams(Params):
    path: Path = Field(description="file to write (replaced at the start of the flow)")
    statistics: bool = Field(False, description="end with one line of the flow's statistics")


class JsonLines(Sink):
    """Each result as one JSON line (schema heiti/flow-result/1)."""

    name = "jsonl"
    Params = JsonLinesParams

    def open(self, flow_name: str) -> None:
        self.flow = flow_name
        self.params.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.params.path, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, item: Item) -> None:
        for record in records(self.flow, item):
            self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self, statistics: dict[str, Any]) -> None:
        if self.params.statistics and statistics:
            self._file.write(json.dumps({"schema": STATISTICS_SCHEMA, **statistics}) + "\n")
        self._file.close()
