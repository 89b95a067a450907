"""`python -m registry_explorer.sandbox [--auth token] [--port N] [--big] [--census] [--inventory]`: run it until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import INSTALL_HINT, SandboxError, seed, start


def main(argv: list[str] | None = None) -> int:
    """Start, print the references, wait for Ctrl-C or SIGTERM, stop."""
    p = argparse.ArgumentParser(prog="python -m registry_explorer.sandbox", description=__doc__)
    p.add_argument("--auth", choices=["token"], help="token auth with a private repository")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--census", action="store_true", help="also the census sample: 44 repositories, 1,136 tags")
    p.add_argument("--seed", metavar="HOST:PORT", help="only push the samples to an existing http registry")
    p.add_argument("--big", action="store_true",
                   help="also push the 'big' sample: a >= 64 MiB gzip layer (built once, then cached)")
    p.add_argument("--inventory", action="store_true",
                   help="also demo/inventory:1.0 and 1.1 (package databases in layers, an SBOM) for rx packages / rx diff")
    args = p.parse_args(argv)
    if args.seed:
        for name, ref in seed(f"http://{args.seed}", big=args.big, inventory=args.inventory).items():
            print(f"{name:10} {ref}")
        return 0
    try:
        sb = start(auth=args.auth, port=args.port, big=args.big, census=args.census, inventory=args.inventory)
    except SandboxError as exc:
        print(exc, file=sys.stderr)
        return 2 if str(exc) == INSTALL_HINT else 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        print(sb.describe(), flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not done.wait(0.5):
            if not sb.running:
                print("the registry exited", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
        print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
