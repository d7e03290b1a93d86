"""``python -m fracbnn_lib <command>``: see :mod:`fracbnn_lib.cli`."""

from .cli import main

raise SystemExit(main())
