"""Error-surface views: line interpolation, 2-D grids, directions, PNG output."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlc.runtime.analysis.surface import (
    coordinate_directions,
    coordinate_surface,
    loss_along_line,
    loss_surface_2d,
    plot_line,
    plot_surface,
    random_directions,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def saddle(p):
    return p["x"] ** 2 - p["y"] ** 2


def mlp_loss(p):
    xs = jnp.linspace(-1.0, 1.0, 12).reshape(6, 2)
    return jnp.mean((jnp.tanh(xs @ p["w"] + p["b"]) @ p["v"] - 0.3) ** 2)


MLP = {
    "w": jnp.array([[0.5, -1.0, 0.2], [0.3, 0.8, -0.4]]),
    "b": jnp.zeros(3),
    "v": jnp.array([1.0, -2.0, 0.5]),
}


def test_saddle_grid_values():
    origin = {"x": jnp.asarray(0.0), "y": jnp.asarray(0.0)}
    d1, d2 = coordinate_directions(origin, 0, 1)
    xs, ys, Z = loss_surface_2d(saddle, origin, d1, d2, span=2.0, n=5)
    np.testing.assert_allclose(xs, [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(ys, xs)
    assert Z.shape == (5, 5)
    # Z[row, col] = loss at (x = xs[col], y = ys[row]); corners x^2 - y^2 = 0
    np.testing.assert_allclose(Z[[0, 0, -1, -1], [0, -1, 0, -1]], 0.0, atol=1e-6)
    assert Z[2, 0] == pytest.approx(4.0) and Z[0, 2] == pytest.approx(-4.0)
    np.testing.assert_allclose(Z, xs[None, :] ** 2 - ys[:, None] ** 2, atol=1e-5)


def test_shifted_grid_with_random_directions_matches_direct_evaluation():
    d1, d2 = random_directions(MLP, jax.random.key(4))
    xs, ys, Z = loss_surface_2d(mlp_loss, MLP, d1, d2, span=0.5, n=7)
    assert Z[3, 3] == pytest.approx(float(mlp_loss(MLP)), rel=1e-6)
    for r, c in [(0, 0), (0, 6), (6, 1), (2, 5)]:
        moved = jax.tree.map(lambda p, a, b, x=xs[c], y=ys[r]: p + x * a + y * b, MLP, d1, d2)
        assert Z[r, c] == pytest.approx(float(mlp_loss(moved)), rel=1e-5)


def test_coordinate_directions_and_surface():
    d1, d2 = coordinate_directions(MLP, 1, 8)
    flat1 = np.concatenate([np.ravel(x) for x in jax.tree.leaves(d1)])
    flat2 = np.concatenate([np.ravel(x) for x in jax.tree.leaves(d2)])
    assert flat1.sum() == flat2.sum() == 1.0 and flat1[1] == 1.0 and flat2[8] == 1.0
    with pytest.raises(IndexError):
        coordinate_directions(MLP, 0, 12)
    with pytest.raises(ValueError):
        coordinate_directions(MLP, 3, 3)
    point = {"x": jnp.asarray(1.5), "y": jnp.asarray(-0.5)}
    xs, ys, Z = coordinate_surface(saddle, point, 0, 1, span=1.0, n=3)
    np.testing.assert_allclose(xs, [0.5, 1.5, 2.5])
    np.testing.assert_allclose(ys, [-1.5, -0.5, 0.5])
    np.testing.assert_allclose(Z, xs[None, :] ** 2 - ys[:, None] ** 2, atol=1e-5)


def test_random_directions_are_filter_normalized():
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.zeros(3), "s": jnp.asarray(-2.0)}
    d1, d2 = random_directions(params, jax.random.key(0))
    for d in (d1, d2):
        assert jax.tree.structure(d) == jax.tree.structure(params)
        assert d["w"].shape == (2, 3)
        assert float(jnp.linalg.norm(d["w"])) == pytest.approx(float(jnp.linalg.norm(params["w"])))
        assert float(jnp.abs(d["s"])) == pytest.approx(2.0)
        assert not bool(jnp.any(d["b"]))  # a zero leaf gets a zero direction
    assert not np.allclose(d1["w"], d2["w"])
    again, _ = random_directions(params, jax.random.key(0))
    np.testing.assert_array_equal(again["w"], d1["w"])


def test_loss_along_line_endpoints():
    b = jax.tree.map(lambda x: x + 0.7, MLP)
    alphas, losses = loss_along_line(mlp_loss, MLP, b, n=11)
    assert alphas[0] == 0.0 and alphas[-1] == 1.0 and losses.shape == (11,)
    assert losses[0] == pytest.approx(float(mlp_loss(MLP)), rel=1e-6)
    assert losses[-1] == pytest.approx(float(mlp_loss(b)), rel=1e-6)
    middle = jax.tree.map(lambda x, y: 0.5 * (x + y), MLP, b)
    assert losses[5] == pytest.approx(float(mlp_loss(middle)), rel=1e-5)
    wide, wide_losses = loss_along_line(mlp_loss, MLP, b, n=61, margin=0.25)
    assert (wide[0], wide[10], wide[50], wide[-1]) == pytest.approx((-0.25, 0.0, 1.0, 1.25))
    assert (wide_losses[10], wide_losses[50]) == pytest.approx((losses[0], losses[-1]), rel=1e-5)


def test_plots_write_pngs(tmp_path):
    alphas, losses = loss_along_line(lambda p: (p**2).sum(), jnp.zeros(2), jnp.ones(2), n=9)
    line = plot_line(alphas, losses, tmp_path / "line.png", title="line")
    assert line == tmp_path / "line.png"
    assert line.read_bytes()[:8] == PNG_SIGNATURE
    origin = {"x": jnp.asarray(0.0), "y": jnp.asarray(0.0)}
    d1, d2 = coordinate_directions(origin, 0, 1)
    xs, ys, Z = loss_surface_2d(saddle, origin, d1, d2, n=21)
    for log_scale in (False, True):
        out = plot_surface(xs, ys, Z, tmp_path / f"s{log_scale}.png", log_scale=log_scale)
        data = out.read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    with pytest.raises(ValueError):
        plot_surface(xs, ys, np.full_like(Z, np.nan), tmp_path / "nan.png")


@pytest.mark.parametrize("log_scale", [False, True])
def test_surface_colour_bar_has_several_labelled_ticks(tmp_path, log_scale):
    """Issue 17: the log colour bar had one tick labelled like `1.34393 x 10^-9`."""
    xs = ys = np.linspace(-1.0, 1.0, 41)
    X, Y = np.meshgrid(xs, ys)
    Z = 0.5 + 0.01 * (X**2 + 3 * Y**2) + 0.5 * X**4  # a narrow bowl: what log colours are for
    figures: dict = {}
    plot_surface(xs, ys, Z, tmp_path / "s.png", log_scale=log_scale, figures=figures)
    bar = figures["s.png"].axes[1]
    lo, hi = bar.get_ylim()
    shown = [
        (t, label.get_text())
        for t, label in zip(bar.get_yticks(), bar.get_yticklabels(), strict=True)
        if lo <= t <= hi
    ]
    assert len(shown) >= 4, shown
    texts = [text for _, text in shown]
    assert all(texts) and len(set(texts)) == len(texts)
    assert all(len(text) <= 7 and "times" not in text for text in texts), texts
    assert [float(text.replace("−", "-")) for text in texts] == pytest.approx(
        [t for t, _ in shown], rel=1e-6
    )
    if log_scale:
        assert texts == ["0.0001", "0.001", "0.01", "0.1"]
        assert "log scale" in bar.get_ylabel() and "min 0.5" in bar.get_ylabel()
