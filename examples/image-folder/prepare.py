"""Make this example runnable: digits as PNG folders plus the demo's exported ONNX model.

Run `make demo` (or `heiti run ../digits/digits-fp32.yml`) first, then `python prepare.py`,
then `heiti run scenario.yml`.
"""

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
DEMO_MODEL = HERE.parents[1] / "build" / "digits-fp32" / "02-onnx-graph.onnx"


def main() -> None:
    if not DEMO_MODEL.exists():
        raise SystemExit(f"{DEMO_MODEL} is missing: run the digits demo first (make demo)")
    digits = load_digits()
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = HERE / "images" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        grey = np.round(pixels * 255 / 16).astype(np.uint8)  # 0..16 -> 0..255
        Image.fromarray(grey, mode="L").save(folder / f"{index:04d}.png")
    shutil.copyfile(DEMO_MODEL, HERE / "model.onnx")
    print(f"wrote {len(digits.images)} images to {HERE / 'images'} and {HERE / 'model.onnx'}")


if __name__ == "__main__":
    main()
