"""Writes digits.npz, digits_x.npy and digits_y.npy (specs/data/README.md): the first 400 of
scikit-learn's 8x8 digits.

.venv/bin/python specs/data/digits/make_digits_npz.py
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

d = load_digits()
out = Path(__file__).with_name("digits.npz")
np.savez_compressed(
    out, train_x=d.data[:400].astype(np.uint8), train_y=d.target[:400].astype(np.uint8)
)
# the same arrays as two .npy files, for the `npy` source (specs/npy_digits.dl)
np.save(out.with_name("digits_x.npy"), d.data[:400].astype(np.uint8))
np.save(out.with_name("digits_y.npy"), d.target[:400].astype(np.uint8))
