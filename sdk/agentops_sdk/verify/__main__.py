"""``python -m agentops_sdk.verify``: the ``agentops-verify`` command."""

import sys

from agentops_sdk.verify.cli import main

if __name__ == "__main__":
    sys.exit(main())
