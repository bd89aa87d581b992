"""python -m cnnjax.layers.onednn build [--force] [--if-available] | info

build: compiles the oneDNN convolutions (`library.build`); --if-available makes a missing
oneDNN or compiler a note instead of an error (what `make install` runs). info: where the
library is and whether it loads, oneDNN's version and the threads it runs with.
"""

from __future__ import annotations

import argparse
import sys

from cnnjax.layers.onednn import library


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnjax.layers.onednn", description=__doc__)
    parser.add_argument("command", choices=("build", "info"))
    parser.add_argument("--force", action="store_true", help="build: rebuild when present")
    parser.add_argument(
        "--if-available",
        action="store_true",
        help="build: without oneDNN or a compiler, say so and exit 0 (the pure-JAX path stays)",
    )
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            path = library.build(force=args.force)
        except library.OneDNNUnavailable as e:
            if not args.if_available:
                print(e, file=sys.stderr)
                return 1
            first_line = str(e).splitlines()[0]
            print(f"oneDNN convolutions not built ({first_line}); conv2d uses pure JAX")
            return 0
        print(f"built {path}")
        return 0
    path = library.library_path()
    print(f"library: {path} ({'present' if path.exists() else 'not built'})")
    try:
        library.load()
    except library.OneDNNUnavailable as e:
        print(f"not loadable: {e}")
        return 1
    print(f"oneDNN {library.dnnl_version()}, {library.xla_cpu_threads()} OpenMP threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
