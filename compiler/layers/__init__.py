"""Layer registry entries; importing this package registers them all."""

from dlc.compiler.layers import activations, core, norm  # noqa: F401
