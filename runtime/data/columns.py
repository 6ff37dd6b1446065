"""Choosing CSV columns: names, positions, ranges, globs and exclusions (numpy-free).

A column reference in a spec is one of:

* a name, exactly as in the header (repeated header names get pandas' suffixes: `cli`,
  `cli.1`, `cli.2`, ... in file order, see `unique_header`);
* a position: the integer `3` or the string `"#3"` (1-based, the header's 3rd column);
* a range `"a:b"` of two names or positions: both ends and every column between them, in
  file order (features lists only);
* a glob `"tested_*"` (`*`, `?`, `[...]` as in shell patterns), matching in file order
  (features and exclude lists only).

Example:
    >>> header = unique_header(["id", "a", "cli", "cli", "y"])
    >>> header
    ['id', 'a', 'cli', 'cli.1', 'y']
    >>> select(header, ["a:cli.1"]), select(header, ["cli*"]), select(header, [2, "#5"])
    (['a', 'cli', 'cli.1'], ['cli', 'cli.1'], ['a', 'y'])
    >>> compact(["id", "a", "cli", "y"], header)
    'id .. cli, y'
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from dlc.compiler.errors import DlcError, suggest

ID_NAMES = frozenset({"id"})  # compared case-insensitively: id, ID, Id


def unique_header(names: Sequence[str]) -> list[str]:
    """Repeated names get `.1`, `.2`, ... in file order (as pandas does); a suffixed name that
    already exists in the header is skipped over."""
    taken = set(names)
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        if name not in seen:
            seen[name] = 0
            out.append(name)
            continue
        k = seen[name] + 1
        while f"{name}.{k}" in taken:
            k += 1
        seen[name] = k
        taken.add(f"{name}.{k}")
        out.append(f"{name}.{k}")
    return out


def _delimiter_hint(header: Sequence[str]) -> str | None:
    """A hint when a one-column header looks split by another delimiter (`a;b;c`)."""
    if len(header) != 1:
        return None
    for d in (";", "\t", "|", ",", " "):
        if d in header[0].strip():
            shown = "\\t" if d == "\t" else d
            return (
                f"the header is the single column `{header[0]}`: the file seems to use "
                f'`{shown}` between values; add delimiter="{shown}" to the source line'
            )
    return None


def _missing(ref: str, header: Sequence[str], where: str) -> DlcError:
    return DlcError.single(
        f"column `{ref}` is not in the header",
        where=where,
        hint=_delimiter_hint(header)
        or suggest(ref, header)
        or 'columns are named by the header, or by position: 3 or "#3"',
    )


def column(ref: str | int, header: Sequence[str], where: str) -> str:
    """One column's name: `ref` is a name, an integer position or `"#N"` (1-based)."""
    if isinstance(ref, str) and ref.startswith("#") and ref[1:].isdigit():
        ref = int(ref[1:])
    if isinstance(ref, int):
        if not 1 <= ref <= len(header):
            raise DlcError.single(
                f"column position {ref} is outside the header's 1..{len(header)}",
                where=where,
                hint="positions count from 1, the first column",
            )
        return header[ref - 1]
    if ref not in header:
        raise _missing(ref, header, where)
    return ref


def name_of(ref: str | int, header: Sequence[str]) -> str:
    """`ref` as a column name, without raising: a position outside `header` stays `"#N"`."""
    if isinstance(ref, str) and ref.startswith("#") and ref[1:].isdigit():
        ref = int(ref[1:])
    if isinstance(ref, int):
        return header[ref - 1] if 1 <= ref <= len(header) else f"#{ref}"
    return ref


def _is_glob(ref: str) -> bool:
    return any(c in ref for c in "*?[")


def is_pattern(ref: str | int, header: Sequence[str]) -> bool:
    """A glob or a range (which may name several columns), not one column."""
    return isinstance(ref, str) and (_is_glob(ref) or (":" in ref and ref not in header))


def select(header: Sequence[str], refs: Iterable[str | int], where: str = "") -> list[str]:
    """Columns named by `refs` (names, positions, ranges, globs), in the order written, each once.

    A glob that matches nothing is an error, as is an unknown name or a backwards range.
    """
    out: list[str] = []
    for ref in refs:
        if isinstance(ref, str) and _is_glob(ref):
            found = [c for c in header if fnmatch.fnmatchcase(c, ref)]
            if not found:
                raise DlcError.single(
                    f"the pattern `{ref}` matches no column",
                    where=where,
                    hint=suggest(ref.strip("*?"), header),
                )
        elif isinstance(ref, str) and ":" in ref and ref not in header:
            lo_ref, hi_ref = ref.split(":", 1)
            lo = header.index(column(lo_ref.strip(), header, where))
            hi = header.index(column(hi_ref.strip(), header, where))
            if hi < lo:
                raise DlcError.single(
                    f"the range `{ref}` runs backwards: `{header[hi]}` comes before "
                    f"`{header[lo]}` in the file",
                    where=where,
                    hint="write the range's first column first",
                )
            found = list(header[lo : hi + 1])
        else:
            found = [column(ref, header, where)]
        out.extend(c for c in found if c not in out)
    return out


def is_id_name(name: str) -> bool:
    """A column whose name says it is an identifier (`id`, `ID`, `Id`)."""
    return name.lower() in ID_NAMES


def compact(names: Sequence[str], header: Sequence[str]) -> str:
    """`names` written briefly: runs of 3 or more consecutive header columns as `a .. c`."""
    pos = [header.index(n) for n in names]
    pieces: list[str] = []
    i = 0
    while i < len(pos):
        j = i
        while j + 1 < len(pos) and pos[j + 1] == pos[j] + 1:
            j += 1
        if j - i >= 2:
            pieces.append(f"{names[i]} .. {names[j]}")
        else:
            pieces.extend(names[i : j + 1])
        i = j + 1
    return ", ".join(pieces)
