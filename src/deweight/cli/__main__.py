"""Run the ``deweight`` command as ``python -m deweight.cli``."""

import sys

from deweight.cli.app import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
