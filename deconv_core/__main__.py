"""Entry point for ``python -m deconv_core``."""

import sys

from deconv_core.startup import quiet_start

# The guard keeps worker processes that re-import this module (the Dask engine's local
# cluster starts them with "spawn") from running the command line again.
if __name__ == "__main__":
    with quiet_start(True):  # the command line's modules not loaded by the package yet
        from deconv_core.cli import main
    sys.exit(main())
