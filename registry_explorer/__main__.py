"""`python -m registry_explorer`: the `rx` command line."""

import sys

from .doors.cli import main

if __name__ == "__main__":
    sys.exit(main())
