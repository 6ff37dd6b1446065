"""The project's shape: a clone works whatever its folder is called, and the package layout
lets tools resolve `dlc` imports.

`ruff` decides which imports are first-party partly from the folder name; a clone named `dlc`
once failed `make test` on import order (I001) while any other name passed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def _ruff() -> str:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.is_file():
        pytest.skip("ruff is not installed beside this Python")
    return str(ruff)


@pytest.mark.parametrize("folder", ["dlc", "dlc.git", "my-checkout"])
def test_lint_and_format_pass_in_any_folder_name(tmp_path: Path, folder: str) -> None:
    clone = tmp_path / folder
    for name in _tracked_files():
        if name.endswith((".py", ".toml")):  # what ruff reads
            dest = clone / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest)
    ruff = _ruff()
    check = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=clone, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "."], cwd=clone, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_every_runtime_folder_is_a_declared_package() -> None:
    """`pip install .` ships a folder only when pyproject.toml names it: a new runtime/ or
    compiler/ subfolder missing there would work in the checkout and break installs."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    for top in ("compiler", "runtime", "grammar"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            name = "dlc." + ".".join(rel.parts)
            assert name in declared, f"{name} is missing from [tool.setuptools] packages"
            assert config["package-dir"][name] == rel.as_posix()
