"""``python -m validation`` is the same as the ``quadnet`` command."""

import sys

from validation.cli import main

sys.exit(main())
