"""Compile options: choices outside the spec text that change the compiled program. They are
read once, when a spec is loaded (`load_spec`), hashed with the spec (`ResolvedSpec.hash`) and
recorded in a run's `spec.json`, so a run resumed under other options is refused as a changed
spec.

- `conv_lowering` (environment `CONV_LOWERING`): `xla` (`lax.conv_general_dilated`),
  `patches` (explicit patches and one matmul) or `auto` (patches on CPU, xla on GPUs).

Options at their defaults add nothing to the hash, so runs written before an option existed
keep their hash.

Example:
    >>> CompileOptions.from_env({"CONV_LOWERING": "xla"})
    CompileOptions(conv_lowering='xla')
    >>> CompileOptions().changed(), CompileOptions("patches").changed()
    ({}, {'conv_lowering': 'patches'})
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from dlc.compiler.errors import DlcError

CONV_LOWERINGS = ("auto", "xla", "patches")


@dataclass(frozen=True)
class CompileOptions:
    conv_lowering: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CompileOptions:
        """The options the environment selects (`CONV_LOWERING`); unset ones keep defaults."""
        env = os.environ if env is None else env
        choice = env.get("CONV_LOWERING", "auto")
        if choice not in CONV_LOWERINGS:
            raise DlcError.single(
                f"CONV_LOWERING must be auto, xla or patches, not {choice!r}",
                where="CONV_LOWERING",
                hint="unset it (auto) or set CONV_LOWERING=xla or patches",
            )
        return cls(conv_lowering=choice)

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    def changed(self) -> dict[str, str]:
        """The options that differ from their defaults (what the spec hash includes)."""
        default = CompileOptions().as_dict()
        return {k: v for k, v in self.as_dict().items() if v != default[k]}
