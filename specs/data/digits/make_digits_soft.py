"""Writes digits_soft.npz (specs/data/README.md): the first 400 of scikit-learn's 8x8 digits
with soft labels from a teacher, for distillation with `loss kl_divergence`
(specs/kl_digits.dl). The teacher is a logistic regression fitted on the other 1397 digits
(never on these 400); the soft labels are softmax(teacher logits / 2), temperature 2.

.venv/bin/python specs/data/digits/make_digits_soft.py
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

T = 2.0
d = load_digits()
x, y = d.data / 16.0, d.target
teacher = LogisticRegression(max_iter=5000).fit(x[400:], y[400:])
z = teacher.decision_function(x[:400]) / T
soft = np.exp(z - z.max(axis=1, keepdims=True))
soft /= soft.sum(axis=1, keepdims=True)
print("teacher accuracy on the 400:", float((soft.argmax(1) == y[:400]).mean()))
np.savez_compressed(
    Path(__file__).with_name("digits_soft.npz"),
    train_x=d.data[:400].astype(np.uint8),
    soft_y=soft.astype(np.float32),
    train_y=y[:400].astype(np.uint8),
)
