"""Reports of measurements files someone else wrote: files they name are taken only from
their own folder, their fields reach report.md as text (no HTML, links or math), and names
with ``$...$`` are drawn as written (no mathtext)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli, scenario_dict, write_scenario

HOSTILE = "<script>alert(1)</script> [x](https://example.org/t.png) $\\nope$ `a` *b*"


@pytest.fixture(scope="module")
def measured(tmp_path_factory, trained_model_dir) -> Path:
    """One real measurements file of the session's digits model (torch, no optimizers)."""
    folder = tmp_path_factory.mktemp("measured")
    shutil.copytree(trained_model_dir / "model", folder / "model")
    data = scenario_dict("m", optimizers=[], runtime={"type": "torch"}, report={"enabled": False},
                         test={"warmup": 1, "samples": 20})
    assert run_cli("test", write_scenario(folder, data)) == 0
    return folder / "build" / "measurements.json"


def _copy(measured: Path, folder: Path, **changes) -> Path:
    """The measurements file in ``folder`` with top-level fields changed."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = json.loads(measured.read_text()) | changes
    path = folder / "measurements.json"
    path.write_text(json.dumps(doc))
    return path


def _png(path: Path, payload: bytes) -> bytes:
    from PIL import Image

    Image.new("L", (4, 4)).save(path)
    data = path.read_bytes() + payload  # a PNG that ends with recognizable bytes
    path.write_bytes(data)
    return data


@pytest.mark.parametrize(("reference", "why"), [
    ("/etc/passwd", "is an absolute path"),
    ("../outside.png", "leaves the measurements file's folder"),
    ("sub/../../outside.png", "leaves the measurements file's folder"),
    ("link.png", "is a link out of the measurements file's folder"),
    ("notes.txt", "is not a PNG image"),
])
def test_a_file_reference_outside_the_measurements_folder_is_left_out(measured, tmp_path, capsys,
                                                                      reference, why):
    secret = _png(tmp_path / "outside.png", b"SECRET-OUTSIDE")
    mine = _copy(measured, tmp_path / "run", files={"examples": reference})
    (tmp_path / "run" / "link.png").symlink_to(tmp_path / "outside.png")
    (tmp_path / "run" / "notes.txt").write_text("private notes")
    assert run_cli("report", mine, "-o", tmp_path / "r") == 0
    err = capsys.readouterr().err
    assert f"heiti: warning: files.examples '{reference}'" in err and why in err
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "## Examples" in markdown and why in markdown and "](examples.png)" not in markdown
    assert not (tmp_path / "r" / "examples.png").exists()
    everything = b"".join(p.read_bytes() for p in (tmp_path / "r").iterdir())
    assert secret not in everything and b"root:" not in everything and b"private notes" not in everything


def test_an_examples_figure_beside_the_measurements_file_is_shown(measured, tmp_path, capsys):
    mine = _copy(measured, tmp_path / "run", files={"examples": "examples.png"})
    figure = _png(tmp_path / "run" / "examples.png", b"")
    assert run_cli("report", mine, "-o", tmp_path / "r") == 0
    assert "warning" not in capsys.readouterr().err
    assert "![Samples with truth and predictions](examples.png)" in (tmp_path / "r" / "report.md").read_text()
    assert (tmp_path / "r" / "examples.png").read_bytes() == figure


def test_fields_reach_report_md_as_text_and_plots_draw_dollar_names(measured, tmp_path, capsys):
    """A run name, a dataset path and class names with markup: report.md shows them escaped;
    the legend, tick labels and confusion matrix draw ``$\\nope$`` as written (mathtext would
    raise 'Unknown symbol')."""
    doc = json.loads(measured.read_text())
    dataset = doc["dataset"] | {"parameters": {"path": HOSTILE}}
    quality = doc["quality"]
    names = [f"${i}\\nope$" for i in range(len(quality["details"]["class_names"]))]
    quality["details"] |= {"class_names": names,
                           "per_class": dict(zip(names, quality["details"]["per_class"].values(),
                                                 strict=True))}
    first = _copy(measured, tmp_path / "a", name=HOSTILE, dataset=dataset, quality=quality)
    second = _copy(measured, tmp_path / "b", name="$\\alpha$ <b>bold</b>\n# heading")
    assert run_cli("report", first, "-o", tmp_path / "r") == 0
    assert run_cli("report", first, second, "-o", tmp_path / "cmp") == 0, capsys.readouterr().err
    for folder in ("r", "cmp"):
        markdown = (tmp_path / folder / "report.md").read_text()
        assert "<script>" not in markdown and "<b>" not in markdown and "[x](" not in markdown
        assert "&lt;script&gt;alert(1)&lt;/script&gt; \\[x\\](https://example.org/t.png) " \
               "\\$\\\\nope\\$ \\`a\\` \\*b\\*" in markdown
        assert "\n# heading" not in markdown
    assert "| \\$0\\\\nope\\$ |" in (tmp_path / "r" / "report.md").read_text()
    assert (tmp_path / "r" / "confusion.png").stat().st_size > 1000
    assert (tmp_path / "cmp" / "compare-latency.png").stat().st_size > 1000
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
