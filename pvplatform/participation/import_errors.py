"""What the import of a data package reports when it refuses one: table, line, column, reason."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from pvplatform.errors import ValidationFailed

DESCRIPTOR = "datapackage.json"
MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class PackageError:
    table: str
    line: int  # 1 is the header row; 0 for the package as a whole
    reason: str
    column: str | None = None

    @property
    def file(self) -> str:
        return DESCRIPTOR if self.table == DESCRIPTOR else f"{self.table}.csv"

    def __str__(self) -> str:
        if not self.line:
            return str(_l("%(file)s: %(reason)s", file=self.file, reason=self.reason))
        if self.column:
            return str(_l("%(file)s, line %(line)s, column %(column)s: %(reason)s",
                          file=self.file, line=self.line, column=self.column, reason=self.reason))
        return str(_l("%(file)s, line %(line)s: %(reason)s", file=self.file, line=self.line,
                      reason=self.reason))


class PackageInvalid(ValidationFailed):
    """The package was refused; `errors` says where and why. Nothing of it was stored."""

    def __init__(self, errors: list[PackageError], total: int | None = None) -> None:
        self.errors = list(errors)
        self.total = total if total is not None else len(self.errors)
        super().__init__(str(_l(
            "The data package was refused (%(count)s errors); nothing was stored.",
            count=self.total)))


class ErrorList:
    """Every error counted, the first MAX_REPORTED_ERRORS kept: a wholly wrong file of a million
    rows must not hold a million messages."""

    def __init__(self) -> None:
        self.items: list[PackageError] = []
        self.total = 0

    def add(self, table: str, line: int, reason: object, column: str | None = None) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append(PackageError(table, line, str(reason), column))

    def __bool__(self) -> bool:
        return self.total > 0

    def refuse(self) -> PackageInvalid:
        return PackageInvalid(self.items, self.total)
