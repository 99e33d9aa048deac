"""``python -m devstack.composetest [PYTEST ARGS]``: see devstack.composetest.runner."""

import sys

from devstack.composetest.runner import main

sys.exit(main(sys.argv[1:]))
