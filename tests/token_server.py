"""The small Docker token server the token-auth registry fixtures use, as a script.

It lives in registry_explorer.sandbox.tokenserver so the sandbox's auth mode can use it too;
run `python tests/token_server.py --help` to start one by hand.
"""

import sys

from registry_explorer.sandbox.tokenserver import main

if __name__ == "__main__":
    sys.exit(main())
