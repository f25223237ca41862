"""Your own sensor windows from CSV files, one row per time step or one row per window, for
anomaly detection; split at random or as you split them."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from heiti.core.dataset import Dataset, Samples
from heiti.core.files import require_file
from heiti.datasets.splitting import SplitParams, assigned_splits, split_samples
from heiti.errors import InputError
from heiti.signal.spectrum import SpectrumParams, window_features

LABELS = {"0": 0, "normal": 0, "1": 1, "anomalous": 1, "anomaly": 1}
SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
SHOWN_COLUMNS = 12  # a header of hundreds of columns is summed up, not listed


class CsvWindowsParams(SplitParams):
    path: Path = Field(description="CSV file: a header, then the windows (with 'val' and 'test': "
                       "the training windows)")
    rows: Literal["time-steps", "windows"] = Field(
        "time-steps", description="what a row holds: one time step of a window (rows of a window "
        "are consecutive and share its id) or a whole window (one channel, a column per time step)")
    window_column: str = Field("window", description="column holding the window id (optional "
                               "when a row is a window)")
    label_column: str = Field("label", description="column holding 0/normal or 1/anomalous")
    channels: list[str] | None = Field(None, min_length=1, description="time-steps: the channel "
                                       "columns; windows: the time-step columns; in this order "
                                       "(default: every other column)")
    split_column: str | None = Field(None, description="column holding each window's split "
                                     "(train, val or test): your split instead of a random one")
    val: Path | None = Field(None, description="CSV file of the validation windows, same layout; "
                             "with 'test', your split instead of a random one")
    test: Path | None = Field(None, description="CSV file of the test windows, same layout")
    spectrum: SpectrumParams | None = Field(None, description="feed the model each channel's "
                                            "magnitude spectrum instead of the raw window")

    @model_validator(mode="after")
    def _one_way_to_split(self) -> CsvWindowsParams:
        if (self.val is None) != (self.test is None):
            raise ValueError("give both 'val' and 'test' files (with 'path' holding the training "
                             "windows), or neither")
        if self.val is not None and self.split_column is not None:
            raise ValueError("split either by 'split_column' or by the 'val' and 'test' files, "
                             "not both")
        fractions = {"val_fraction", "test_fraction"} & self.model_fields_set
        if fractions and (self.val is not None or self.split_column is not None):
            raise ValueError(f"{' and '.join(sorted(fractions))} shape the random split, which "
                             "your own split replaces: remove them")
        return self


@dataclass
class Windows:
    """What a CSV file holds: windows (windows x channels x length), labels, ids, and each
    window's split when the file names it."""

    x: np.ndarray
    labels: np.ndarray
    ids: list[str]
    splits: list[str] | None = None


class CsvWindows(Dataset):
    """Windows from CSV files, shaped (channels, length) as float32, values as stored.

    One row per time step (``rows: time-steps``, the default): the rows of each window
    one after another, every column besides the window id and the label a channel::

        window,label,ax,ay,az
        pump-0001,normal,0.013,-0.220,0.981
        pump-0001,normal,0.057,-0.198,0.979
        ...
        pump-0002,anomalous,0.410,-0.250,0.970

    One row per window (``rows: windows``): a label, an optional window id, then one
    column per time step of a single channel::

        window,label,t0,t1,t2,...
        pump-0001,normal,0.013,0.057,...

    A label is 0/normal or 1/anomalous; every window has the same length. The random
    split keeps anomalous windows out of training; a ``split_column`` or separate
    ``val`` and ``test`` files give your own split instead. A malformed file is refused
    with its name and line. With ``spectrum`` set, samples are each channel's spectrum,
    shaped (channels, bins)."""

    name = "csv-windows"
    Params = CsvWindowsParams
    default_task: ClassVar[str] = "anomaly"

    def _load_splits(self) -> dict[str, Samples]:
        p = self.params
        if p.val is not None:  # the user's files are the user's split
            windows = _joined({"train": self._read("path", "CSV file of the training windows"),
                               "val": self._read("val", "CSV file of the validation windows"),
                               "test": self._read("test", "CSV file of the test windows")})
        else:
            windows = self._read("path", "CSV file")
            if p.split_column is None:
                return split_samples(self.task, {"input": window_features(windows.x, p.spectrum)},
                                     windows.labels, p, windows.ids)
        self._refuse_anomalies_in_training(windows)
        try:
            return assigned_splits({"input": window_features(windows.x, p.spectrum)}, windows.labels,
                                   np.asarray(windows.splits), p, windows.ids)
        except InputError as exc:
            raise InputError(f"'{p.path}': {exc.message}", hint="every split needs windows: "
                             "check the split column or the val and test files") from None

    def _read(self, field: str, what: str) -> Windows:
        path = require_file(getattr(self.params, field), self.given_paths.get(field), what=what)
        p = self.params
        return read_windows(path, p.window_column, p.label_column, p.channels, p.rows,
                            p.split_column)

    def _refuse_anomalies_in_training(self, windows: Windows) -> None:
        from heiti.tasks.anomaly import Anomaly

        if not isinstance(self.task, Anomaly):
            return
        trained = [i for i, (split, label) in enumerate(zip(windows.splits or [], windows.labels,
                                                            strict=True))
                   if split == "train" and label == 1]
        if trained:
            shown = ", ".join(windows.ids[i] for i in trained[:5])
            raise InputError(f"'{self.params.path}': {len(trained)} anomalous window(s) in the "
                             f"training split ({shown}{', ...' if len(trained) > 5 else ''}); the "
                             "anomaly task trains on normal windows only",
                             hint="move them to the val or test split")


def _joined(parts: dict[str, Windows]) -> Windows:
    """The windows of the train, val and test files as one set, each marked with its split."""
    lengths = {name: part.x.shape[1:] for name, part in parts.items()}
    if len(set(lengths.values())) != 1:
        shapes = ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in lengths.items())
        raise InputError(f"the train, val and test files hold windows of different shapes "
                         f"(channels x length: {shapes})", hint="every window needs the same "
                         "channels and number of time steps")
    return Windows(np.concatenate([part.x for part in parts.values()]),
                   np.concatenate([part.labels for part in parts.values()]),
                   [i for part in parts.values() for i in part.ids],
                   [name for name, part in parts.items() for _ in part.ids])


def read_windows(path: Path, window_column: str = "window", label_column: str = "label",
                 channels: list[str] | None = None, rows: str = "time-steps",
                 split_column: str | None = None) -> Windows:
    """The windows of a CSV file; a malformed file is an InputError naming the file and line.
    A UTF-8 byte-order mark (Excel's "CSV UTF-8") is skipped."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            table = _Table(csv.reader(handle), path, window_column, label_column, channels,
                           rows, split_column)
            return table.by_time_step() if rows == "time-steps" else table.by_window()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                         hint="save it as CSV UTF-8") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None


@dataclass
class _Row:
    line: int
    window: str
    label: int
    split: str | None
    values: list[float]


class _Table:
    """The header of a CSV file checked, then its rows read one by one."""

    def __init__(self, reader: Any, path: Path, window_column: str,
                 label_column: str, channels: list[str] | None, rows: str,
                 split_column: str | None):
        self.reader, self.path = reader, path
        header = next(reader, None)
        if not header:
            raise self.fail(1, "the file is empty; expected a header row")
        self.header = [name.strip() for name in header]
        wanted = [label_column, *([window_column] if rows == "time-steps" else []),
                  *([split_column] if split_column else []), *(channels or [])]
        missing = [c for c in wanted if c not in self.header]
        if missing:
            layout = ("" if rows == "windows" or window_column in self.header else
                      "; if each row holds a whole window, set 'rows: windows'")
            raise self.fail(1, f"the header lacks the column(s) {', '.join(missing)} "
                               f"({_columns(self.header)}){layout}")
        own = {window_column, label_column, split_column}
        self.names = channels or [c for c in self.header if c not in own]
        if not self.names:
            raise self.fail(1, "the header names no value column besides the window id, the "
                               "label and the split")
        self.values_at = [self.header.index(c) for c in self.names]
        self.window_at = self.header.index(window_column) if window_column in self.header else None
        self.label_at = self.header.index(label_column)
        self.split_at = None if split_column is None else self.header.index(split_column)

    def fail(self, line: int, message: str) -> InputError:
        return InputError(f"{self.path}, line {line}: {message}",
                          hint="the layouts are shown by 'heiti info csv-windows'")

    def rows(self) -> Iterator[_Row]:
        for row in self.reader:
            line = self.reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(self.header):
                raise self.fail(line, f"{len(row)} fields, the header has {len(self.header)}")
            label = row[self.label_at].strip().lower()
            if label not in LABELS:
                raise self.fail(line, f"label {row[self.label_at]!r} is neither 0/normal nor "
                                      "1/anomalous")
            split = None
            if self.split_at is not None:
                split = SPLITS.get(row[self.split_at].strip().lower())
                if split is None:
                    raise self.fail(line, f"split {row[self.split_at]!r} is none of train, val, "
                                          "test")
            window = row[self.window_at].strip() if self.window_at is not None else f"line {line}"
            yield _Row(line, window, LABELS[label], split, self._values(row, line))

    def _values(self, row: list[str], line: int) -> list[float]:
        try:
            values = [float(row[i]) for i in self.values_at]
        except ValueError:
            bad = next(k for k, i in enumerate(self.values_at) if not _is_number(row[i]))
            raise self.fail(line, f"column '{self.names[bad]}' holds {row[self.values_at[bad]]!r}, "
                                  "not a number") from None
        if not all(np.isfinite(values)):
            raise self.fail(line, "a value is not finite")
        return values

    def by_time_step(self) -> Windows:
        windows: list[list[list[float]]] = []
        first: list[_Row] = []
        for row in self.rows():
            if not first or first[-1].window != row.window:
                if any(f.window == row.window for f in first):
                    raise self.fail(row.line, f"window '{row.window}' continues after other "
                                              "windows; the rows of a window must be consecutive")
                first.append(row)
                windows.append([])
            elif row.label != first[-1].label:
                raise self.fail(row.line, f"window '{row.window}' changes its label")
            elif row.split != first[-1].split:
                raise self.fail(row.line, f"window '{row.window}' changes its split")
            windows[-1].append(row.values)
        if not windows:
            raise self.fail(2, "no data rows after the header")
        for start, steps in zip(first, windows, strict=True):
            if len(steps) != len(windows[0]):
                raise self.fail(start.line, f"window '{start.window}' has {len(steps)} rows, "
                                            f"window '{first[0].window}' has {len(windows[0])}; "
                                            "every window needs the same number of time steps")
        x = np.asarray(windows, dtype=np.float32).transpose(0, 2, 1)  # (windows, channels, length)
        return self._windows(np.ascontiguousarray(x), first)

    def by_window(self) -> Windows:
        rows = list(self.rows())
        if not rows:
            raise self.fail(2, "no data rows after the header")
        x = np.asarray([row.values for row in rows], dtype=np.float32)[:, None, :]
        return self._windows(x, rows)

    def _windows(self, x: np.ndarray, rows: list[_Row]) -> Windows:
        return Windows(x, np.asarray([r.label for r in rows], dtype=np.int64),
                       [r.window for r in rows],
                       None if self.split_at is None else [str(r.split) for r in rows])


def _columns(header: list[str]) -> str:
    if len(header) <= SHOWN_COLUMNS:
        return f"columns: {', '.join(header)}"
    return (f"{len(header)} columns: {', '.join(header[:SHOWN_COLUMNS - 2])}, ..., "
            f"{', '.join(header[-2:])}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
