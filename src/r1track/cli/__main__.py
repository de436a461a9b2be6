"""`python -m r1track.cli ...` runs the command line (as torchrun / accelerate launch -m do)."""

import sys

from r1track.cli import main

if __name__ == "__main__":
    sys.exit(main())
