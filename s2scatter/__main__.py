"""``python -m s2scatter``: same as the ``s2scatter`` console script."""

import sys

from s2scatter.cli import main

sys.exit(main())
