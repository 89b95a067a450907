"""The small Docker token server the token-auth registry fixtures use.

It lives in registry_explorer.sandbox.tokenserver so the sandbox's auth mode can use it too;
run `python tests/token_server.py --help` to start one by hand.
"""

import sys

from registry_explorer.sandbox import tokenserver as _module

if __name__ == "__main__":
    sys.exit(_module.main())
sys.modules[__name__] = _module
