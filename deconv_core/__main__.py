"""Entry point for ``python -m deconv_core``."""

import sys

from deconv_core.cli import main

# The guard keeps worker processes that re-import this module (the Dask engine's local
# cluster starts them with "spawn") from running the command line again.
if __name__ == "__main__":
    sys.exit(main())
