"""The tiny example package of DATA.md, with its expected indicator and flag rows, kept in the
repository so that the suite does not depend on where the design folder lies."""

from pathlib import Path

TINY = Path(__file__).resolve().parent / "data" / "tiny-process"
