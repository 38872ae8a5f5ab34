"""The example packages of DATA.md (tiny-process, pulse-process, edge-process), with their expected
indicator and flag rows, kept in the repository so that the suite does not depend on where the
design folder lies."""

from datetime import datetime
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "tiny-process"
PULSE = DATA / "pulse-process"
EDGE = DATA / "edge-process"
EXAMPLES = {"tiny-process": TINY, "pulse-process": PULSE, "edge-process": EDGE}

# expected/indicators-<date>.json and flags-<date>.json hold the rows as of these instants (see
# each package's README.md): files are named by the date part of the instant.
INSTANTS = {
    TINY: ("2026-03-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00"),
    PULSE: ("2026-03-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00"),
    EDGE: ("2026-02-21T17:40:00+01:00", "2026-03-01T00:00:00+00:00",
           "2026-06-01T00:00:00+00:00"),
}


def expected_files(package: Path) -> list[tuple[Path, datetime]]:
    """Every expected file of a package, with the instant it was computed at."""
    by_date = {text[:10]: datetime.fromisoformat(text) for text in INSTANTS[package]}
    out = []
    for path in sorted((package / "expected").glob("*.json")):
        _kind, day = path.stem.split("-", 1)
        out.append((path, by_date[day]))
    return out
