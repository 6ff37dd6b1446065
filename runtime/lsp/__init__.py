"""The `.dl` language server (`dlc lsp`): `knowledge.py` (what fits where, reference text),
`features.py` (diagnostics, completion, hover, formatting as plain data) and `server.py` (the
protocol, through pygls: `pip install 'dlc[lsp]'`). Only `server.py` imports pygls.

Example:
    >>> from dlc.runtime.lsp.features import diagnostics
    >>> diagnostics("loss mse\\n", "a.dl")[0].message
    'the spec has no `data` section'
"""
