"""The `dlc` command line: one module per command; the only code that imports argparse or rich.

Example:
    $ dlc check specs/sigmoids.dl
"""

from dlc.runtime.cli.main import main

__all__ = ["main"]
