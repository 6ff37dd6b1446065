"""The .dl grammar (a Lark LALR grammar file shipped as package data)."""

from pathlib import Path

GRAMMAR_PATH = Path(__file__).with_name("dl.lark")
