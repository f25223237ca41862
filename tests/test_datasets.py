"""Datasets: deterministic stratified splits, image folders read from real files."""

import numpy as np
import pytest
from PIL import Image

from heiti.datasets.digits import Digits
from heiti.datasets.image_folder import ImageFolder
from heiti.errors import InputError


def test_digits_splits_are_deterministic_disjoint_and_stratified():
    a, b = Digits({"seed": 3}), Digits({"seed": 3})
    for split in ("train", "val", "test", "calibration"):
        assert np.array_equal(a.split(split).x, b.split(split).x)
    sizes = {s: len(a.split(s)) for s in ("train", "val", "test")}
    assert sum(sizes.values()) == 1797
    rows = {s: {r.tobytes() for r in a.split(s).x} for s in ("train", "test")}
    # digits holds a few duplicate images; splits must not share more than those
    assert len(rows["train"] & rows["test"]) < 5
    test_share = np.bincount(a.split("test").truth) / len(a.split("test"))
    assert np.all(np.abs(test_share - 0.1) < 0.02)
    assert len(a.split("calibration")) == 200
    assert a.input_shape == (1, 8, 8) and a.split("test").x.dtype == np.float32


def test_digits_seed_changes_the_split():
    a, b = Digits({"seed": 0}).split("test"), Digits({"seed": 1}).split("test")
    assert not np.array_equal(a.truth, b.truth)


def _make_images(root, classes=("cat", "dog"), per_class=8, suffix=".png"):
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (20, 16, 3), dtype=np.uint8) + label * 150
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}{suffix}")


def test_image_folder_reads_resizes_and_normalizes(tmp_path):
    _make_images(tmp_path / "imgs", suffix=".png")
    _make_images(tmp_path / "imgs2", suffix=".jpg")
    ds = ImageFolder({"path": "imgs", "size": [12, 10], "mean": [0.5], "std": [0.25],
                      "test_fraction": 0.25, "val_fraction": 0.25}, base_dir=tmp_path)
    assert ds.class_names == ["cat", "dog"]
    test = ds.split("test")
    assert test.x.shape[1:] == (3, 12, 10) and test.x.dtype == np.float32
    assert sorted(test.truth.tolist()) == [0, 0, 1, 1]
    # class 1 images are bright: after (x - 0.5) / 0.25 they are positive, class 0 negative
    assert test.x[test.truth == 1].mean() > 0 > test.x[test.truth == 0].mean()
    jpg = ImageFolder({"path": "imgs2", "grayscale": True, "size": [8, 8]}, base_dir=tmp_path)
    assert jpg.split("train").x.shape[1:] == (1, 8, 8)


def test_image_folder_errors_name_the_path(tmp_path):
    missing = ImageFolder({"path": "nowhere"}, base_dir=tmp_path)
    with pytest.raises(InputError, match="'nowhere' \\(resolved to '.*nowhere'\\) does not exist"):
        missing.split("test")
    _make_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "cat" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read image '.*broken.png'"):
        ImageFolder({"path": "imgs"}, base_dir=tmp_path).split("test")


def test_image_folder_rejects_normalization_of_wrong_length():
    with pytest.raises(ValueError, match="mean needs 1 or 3 values"):
        ImageFolder({"path": "x", "mean": [0.1, 0.2]})
