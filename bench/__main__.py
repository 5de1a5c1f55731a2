"""``python -m bench NAME [args]``: run one benchmark; ``python -m bench --list`` lists them."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

NOT_BENCHMARKS = {"__main__"}


def benchmarks() -> list[str]:
    """Modules of this package that define ``main(argv)`` (``scale`` builds a data set only)."""
    names = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name in NOT_BENCHMARKS or info.name.startswith("_"):
            continue
        names.append(info.name)
    return sorted(names)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("benchmarks:", ", ".join(benchmarks()))
        return 0 if argv else 2
    if argv[0] == "--list":
        for name in benchmarks():
            doc = (importlib.import_module(f"bench.{name}").__doc__ or "").strip().splitlines()
            print(f"{name:<12} {doc[0] if doc else ''}")
        return 0
    name = argv[0]
    if name not in benchmarks():
        print(f"unknown benchmark {name!r}; try --list", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
