"""The runtime takes sharded inputs: training with rows sharded over 2 (simulated CPU) devices
gives the same parameters as on one device."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import numpy as np, jax, dlc
    from dlc.runtime.train.sharding import data_mesh
    assert jax.device_count() == 2, jax.devices()
    spec = '''
    data { digits }
    model { dense 32; relu; dense 10 }
    loss cross_entropy
    optimizer adam lr=0.01
    train { batch 64; epochs 3; seed 1 }
    '''
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 64)).astype(np.float32)
    y = rng.integers(0, 10, 512).astype(np.int32)
    a = dlc.compile(spec); a.fit(x, y)
    b = dlc.compile(spec); b.fit(x, y, mesh=data_mesh())
    sharding = b.state.params["00_dense"]["w"].sharding
    for k in a.params:
        for n in a.params[k]:
            np.testing.assert_allclose(a.params[k][n], b.params[k][n], rtol=1e-5, atol=1e-6)
    print("OK", type(sharding).__name__, len(sharding.device_set))
""")


@pytest.mark.slow
def test_sharded_training_equals_single_device() -> None:
    env = {
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK NamedSharding 2" in out.stdout
