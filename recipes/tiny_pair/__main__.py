"""``python -m recipes.tiny_pair --help``."""

import sys

from recipes.tiny_pair.cli import main

sys.exit(main())
