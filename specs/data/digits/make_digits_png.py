"""Writes digits_png/ (specs/data/README.md): the first 12 images of each class of
scikit-learn's 8x8 digits as greyscale PNGs, pixels 0..16 times 15 (0..240), one sub-folder
per digit.

    .venv/bin/python specs/data/digits/make_digits_png.py
"""

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

d = load_digits()
root = Path(__file__).with_name("digits_png")
for k in range(10):
    folder = root / str(k)
    folder.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(np.flatnonzero(d.target == k)[:12]):
        pixels = (d.images[row] * 15).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"{i:02d}-{row}.png", optimize=True)
