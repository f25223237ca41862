"""Your own sensor windows from a CSV file, one row per time step, for anomaly detection."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from heiti.core.dataset import Dataset, Samples
from heiti.core.files import require_file
from heiti.datasets.splitting import SplitParams, split_samples
from heiti.errors import InputError
from heiti.signal.spectrum import SpectrumParams, window_features

LABELS = {"0": 0, "normal": 0, "1": 1, "anomalous": 1, "anomaly": 1}


class CsvWindowsParams(SplitParams):
    path: Path = Field(description="CSV file: a header, then one row per time step of each window")
    window_column: str = Field("window", description="column holding the window id")
    label_column: str = Field("label", description="column holding 0/normal or 1/anomalous")
    channels: list[str] | None = Field(None, min_length=1, description="channel columns, in this "
                                       "order (default: every other column)")
    spectrum: SpectrumParams | None = Field(None, description="feed the model each channel's "
                                            "magnitude spectrum instead of the raw window")


class CsvWindows(Dataset):
    """Windows from a CSV file, shaped (channels, length) as float32, values as stored.

    Layout: a header row, then the rows of each window one after another::

        window,label,ax,ay,az
        pump-0001,normal,0.013,-0.220,0.981
        pump-0001,normal,0.057,-0.198,0.979
        ...
        pump-0002,anomalous,0.410,-0.250,0.970

    Every column besides the window id and the label is a channel (or those named by
    ``channels``); a label is 0/normal or 1/anomalous, the same on every row of a window;
    every window has the same number of rows. The split keeps anomalous windows out of
    training. A malformed file is refused with its name and line. With ``spectrum`` set,
    samples are each channel's spectrum, shaped (channels, bins)."""

    name = "csv-windows"
    Params = CsvWindowsParams
    default_task: ClassVar[str] = "anomaly"

    def _load_splits(self) -> dict[str, Samples]:
        path = require_file(self.params.path, self.given_paths.get("path"), what="CSV file")
        x, labels, ids = read_windows(path, self.params.window_column, self.params.label_column,
                                      self.params.channels)
        return split_samples(self.task, {"input": window_features(x, self.params.spectrum)}, labels,
                             self.params, ids)


def read_windows(path: Path, window_column: str, label_column: str, channels: list[str] | None
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Windows (windows x channels x length), labels and window ids; a malformed file is
    an InputError naming the file and line."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return _parse(csv.reader(handle), path, window_column, label_column, channels)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None


def _parse(reader: csv.reader, path: Path, window_column: str, label_column: str,
           channels: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    def fail(line: int, message: str) -> InputError:
        return InputError(f"{path}, line {line}: {message}",
                          hint="the layout is shown by 'heiti info csv-windows'")

    header = next(reader, None)
    if not header:
        raise fail(1, "the file is empty; expected a header row")
    header = [name.strip() for name in header]
    missing = [c for c in (window_column, label_column, *(channels or [])) if c not in header]
    if missing:
        raise fail(1, f"the header lacks the column(s) {', '.join(missing)} "
                      f"(columns: {', '.join(header)})")
    names = channels or [c for c in header if c not in (window_column, label_column)]
    if not names:
        raise fail(1, "the header names no channel column besides the window id and the label")
    where = [header.index(c) for c in names]
    at_window, at_label = header.index(window_column), header.index(label_column)

    windows: list[list[list[float]]] = []
    labels: list[int] = []
    ids: list[str] = []
    first_line: list[int] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise fail(line, f"{len(row)} fields, the header has {len(header)}")
        window, label_text = row[at_window].strip(), row[at_label].strip().lower()
        if label_text not in LABELS:
            raise fail(line, f"label {row[at_label]!r} is neither 0/normal nor 1/anomalous")
        try:
            values = [float(row[i]) for i in where]
        except ValueError:
            bad = next(names[k] for k, i in enumerate(where) if not _is_number(row[i]))
            raise fail(line, f"column '{bad}' holds {row[header.index(bad)]!r}, not a number") from None
        if not all(np.isfinite(values)):
            raise fail(line, "a channel value is not finite")
        if not ids or ids[-1] != window:
            if window in ids:
                raise fail(line, f"window '{window}' continues after other windows; the rows of "
                                 "a window must be consecutive")
            ids.append(window)
            labels.append(LABELS[label_text])
            windows.append([])
            first_line.append(line)
        elif LABELS[label_text] != labels[-1]:
            raise fail(line, f"window '{window}' changes its label")
        windows[-1].append(values)
    if not windows:
        raise fail(2, "no data rows after the header")
    length = len(windows[0])
    for window, rows, line in zip(ids, windows, first_line, strict=True):
        if len(rows) != length:
            raise fail(line, f"window '{window}' has {len(rows)} rows, window '{ids[0]}' has "
                             f"{length}; every window needs the same number of time steps")
    x = np.asarray(windows, dtype=np.float32).transpose(0, 2, 1)  # (windows, channels, length)
    return np.ascontiguousarray(x), np.asarray(labels, dtype=np.int64), ids


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
