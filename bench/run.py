"""Runs every benchmark of bench/ (`make bench`; extra arguments: make bench BENCH_ARGS='...').

Each benchmark is a module with main(argv) -> exit status; arguments go to all of them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# pages and computation share one import of the city-size process (bench/out/cache, emptied
# by import_package at the start of every run): computation comes after pages.
BENCHMARKS = ("import_package", "export_package", "votes", "pages", "checkins", "computation")


def main(argv: list[str]) -> int:
    status = 0
    for name in BENCHMARKS:
        module = __import__(name)
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        status = module.main(argv) or status
        print(f"== {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
