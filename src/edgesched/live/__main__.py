"""``python -m edgesched.live``: the live subcommands without the rest of ``edgesched``."""

from __future__ import annotations

import sys

from edgesched.live.cli import main

if __name__ == "__main__":
    sys.exit(main())
