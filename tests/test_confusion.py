"""The per-class counts printed and saved after training a classifier."""

from __future__ import annotations

import dlc


def test_confusion_matrix_of_a_trained_classifier() -> None:
    """Row sums are the class counts of the part; the diagonal share is the accuracy."""
    import numpy as np

    from dlc.runtime.analysis.confusion import part_confusion

    m = dlc.compile(
        "data { digits }\nmodel { dense 32; relu; dense 10 }\nloss cross_entropy\n"
        "optimizer adam lr=0.01\ntrain { epochs 5 }\n"
    )
    m.fit()
    counts = part_confusion(m, "test")
    y = m.data.parts["test"][1]
    assert counts.shape == (10, 10)
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(y, minlength=10))
    acc = m.evaluate("test")["test_accuracy"]
    assert abs(np.trace(counts) / counts.sum() - acc) < 1e-6
    # in chunks of 7 rows (the last one padded to 7): the same classes as one call
    from dlc.runtime.analysis.confusion import predicted_classes

    x = m.data.parts["test"][0]
    assert len(x) % 7 != 0
    whole = np.asarray(m.predict(x)).argmax(-1)
    np.testing.assert_array_equal(predicted_classes(m, x, chunk=7), whole)
    np.testing.assert_array_equal(predicted_classes(m, x[:5], chunk=7), whole[:5])
