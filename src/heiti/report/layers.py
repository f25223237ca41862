"""Per-layer figures in a report: a host runtime's profile (test.profile_runs), and in a
comparison the board's instruction counts beside the host profiles of the same model, layer
by layer where the names allow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heiti.report.content import Section, Table, num

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements

NAMING = ("Layer names are the runtime's: ONNX Runtime keeps the model's node names except for "
          "nodes it fuses or converts, OpenVINO names the nodes of its compiled graph (heiti "
          "traces both back to the model's nodes where it can); TVM names each compiled kernel "
          "after the operators it fuses (its ONNX importer keeps no node names).")


def profile_sections(doc: Measurements) -> list[Section]:
    """One run's host profile, slowest layer first."""
    profile = doc.profile
    if profile is None or not profile.layers:
        return []
    total = sum(layer["mean_ms"] for layer in profile.layers) or 1.0
    table = Table(["layer", "operator", "ms", "share %"], [
        [layer["name"], layer["op_type"], num(layer["mean_ms"]), num(100 * layer["mean_ms"] / total, 1)]
        for layer in profile.layers])
    return [Section("Per-layer profile", [table], notes=[
        f"{profile.runtime}'s profiler, mean of {profile.runs} calls on the first test batch in "
        "a session of its own (the latencies above are measured without the profiler). "
        + NAMING])]


def side_by_side_sections(docs: list[Measurements]) -> list[Section]:
    """The board's instructions per layer beside each host profile (a comparison of a board
    run with host runs of the same model); host layers no board layer names come last."""
    boards = [(doc, board) for doc in docs
              if (board := (doc.resources.get("target") or {}).get("board")) and board["layers"]]
    hosts = [doc for doc in docs if doc.profile is not None and doc.profile.layers]
    if not boards or not hosts:
        return []
    sections = []
    for doc, board in boards:
        rows = board["layers"]
        counted = sum(row["instructions"] for row in rows) or 1.0
        matches = [_match(rows, host.profile.layers) for host in hosts]
        table_rows = []
        for i, row in enumerate(rows):
            cells = [num(row["index"]), row.get("name") or row["output"], row["kind"],
                     num(round(row["instructions"])), num(100 * row["instructions"] / counted, 1)]
            for host, matched in zip(hosts, matches, strict=True):
                cells += _host_cells(matched.get(i, []), host)
            table_rows.append(cells)
        for h, (host, matched) in enumerate(zip(hosts, matches, strict=True)):
            used = {id(layer) for layers in matched.values() for layer in layers}
            for layer in host.profile.layers:
                if id(layer) not in used:
                    cells = ["–", layer["name"], layer["op_type"], "–", "–"]
                    for k, other in enumerate(hosts):
                        cells += _host_cells([layer] if k == h else [], other)
                    table_rows.append(cells)
        header = ["#", "layer", "operator", f"{doc.name} instructions", "share %"]
        for host in hosts:
            header += [f"{host.name} ms", "share %"]
        sections.append(Section(f"Per layer: {doc.name} and the host", [Table(header, table_rows)],
                                notes=[
            "Board rows: instructions per inference counted on the emulated board, in graph order. "
            "Host columns: each runtime's profile beside the board layer of the same model node "
            "(a fused layer beside the first node it covers); host layers without a model node "
            "the board names (layout reorders, TVM's kernels) follow, one per row. " + NAMING]))
    return sections


def _match(rows: list[dict[str, Any]], layers: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Board row index -> the host layers that compute the same model node: a model node the
    runtime resolved its layer to (``nodes``), else the layer's own name."""
    names = {row["name"]: i for i, row in enumerate(rows) if row.get("name")}
    matched: dict[int, list[dict[str, Any]]] = {}
    for layer in layers:
        owners = [names[n] for n in [*layer.get("nodes", []), layer["name"]] if n in names]
        if owners:
            matched.setdefault(owners[0], []).append(layer)
    return matched


def _host_cells(layers: list[dict[str, Any]], host: Measurements) -> list[str]:
    if not layers:
        return ["–", "–"]
    assert host.profile is not None
    total = sum(layer["mean_ms"] for layer in host.profile.layers) or 1.0
    ms = sum(layer["mean_ms"] for layer in layers)
    return [num(ms), num(100 * ms / total, 1)]
