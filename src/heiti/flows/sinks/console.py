"""Results printed to standard output, one line each."""

from __future__ import annotations

import json

from pydantic import Field

from heiti.core.component import Params
from heiti.flows.sinks import records
from heiti.flows.stage import Item, Sink


class ConsoleParams(Params):
    as_json: bool = Field(False, description="print the JSON record instead of a short line")


class Console(Sink):
    """Each result on standard output: SOURCE@TIME: field=value ..., or its JSON record."""

    name = "console"
    Params = ConsoleParams

    def open(self, flow_name: str) -> None:
        self.flow = flow_name

    def write(self, item: Item) -> None:
        for record in records(self.flow, item):
            if self.params.as_json:
                print(json.dumps(record), flush=True)
                continue
            where = item.source + (f"@{item.offset_s:.2f}s" if item.offset_s is not None else "")
            shown = {k: v for k, v in record.items()
                     if k not in ("schema", "flow", "seq", "source", "offset_s")}
            print(f"{where}: " + " ".join(f"{k}={v}" for k, v in shown.items()), flush=True)
