"""Entry point for ``python -m deconv_core``."""

import sys

from deconv_core.cli import main

sys.exit(main())
