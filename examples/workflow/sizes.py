"""A workflow's own tool: compare the sizes of two model folders, write sizes.json."""

import json
import sys
from pathlib import Path


def size(folder: str) -> int:
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.suffix != ".json")


fp32, int8, output = sys.argv[1:4]
sizes = {"fp32_bytes": size(fp32), "int8_bytes": size(int8)}
sizes["int8_share"] = round(sizes["int8_bytes"] / sizes["fp32_bytes"], 3)
(Path(output) / "sizes.json").write_text(json.dumps(sizes, indent=2) + "\n")
print(json.dumps(sizes))
