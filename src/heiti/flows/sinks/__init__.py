"""Flow sinks, one file each: where a flow's results go.

Every sink writes the same record per result (schema ``heiti/flow-result/1``, in
docs/flows.md): the flow's name, where the item came from and the result's own fields.
"""

from __future__ import annotations

from typing import Any

from heiti.flows.stage import Item

RESULT_SCHEMA = "heiti/flow-result/1"
STATISTICS_SCHEMA = "heiti/flow-statistics/1"


def records(flow: str, item: Item) -> list[dict[str, Any]]:
    return [{"schema": RESULT_SCHEMA, "flow": flow, **item.describe(), **result}
            for result in item.results or []]
