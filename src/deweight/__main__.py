"""Run the ``deweight`` command as ``python -m deweight``."""

import sys

from deweight.cli import main

if __name__ == "__main__":
    sys.exit(main())
