"""``python -m genejobs.cli``: the same entry point as the ``genejobs`` script."""

import sys

from genejobs.cli.main import main

sys.exit(main())
