"""`python -m r1track ...` runs the command line."""

import sys

from r1track.cli import main

if __name__ == "__main__":
    sys.exit(main())
