"""The dlc compiler: text -> Lark tree -> AST -> validated spec -> shapes -> JAX lowering.

Modules import JAX lazily (see `lazy.py`) so that `dlc check` stays instant.
"""
