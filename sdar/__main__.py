"""``python -m sdar`` (also under torchrun: ``torchrun ... -m sdar train ...``)."""

import sys

from sdar.cli import main

if __name__ == "__main__":
    sys.exit(main())
