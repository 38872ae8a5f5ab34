"""Failed logins, counted per (account, address) and per address, with a growing wait.

Only *failed* attempts count. A correct password never counts against anyone: it wipes the
(account, address) record and gives its address back the attempt. The right password typed
from another address is never refused because of failures elsewhere, and a room of 40 people
on one Wi-Fi logging in at once is not throttled at all.

- (account, address): 5 failures are free; then each attempt waits 1, 2, 4, 8 minutes... after
  the previous failure, at most 15 minutes. Remembered for a day after the first failure.
- address, whatever the account: 100 failures per hour are free (a workshop's typos); then the
  same doubling wait.

State lives in the rate-limit storage of Flask-Limiter (the `limits` storage API: `incr`, `get`,
`get_expiry`, `clear`): by default the application's own database (`database://`,
pvplatform.core.ratelimit_storage), so that every gunicorn worker and every instance sees the
same failures; Redis when RATELIMIT_STORAGE_URI says so. The storage has atomic increments but no
decrement and no key listing, hence the design:

- `tries` counts every admitted attempt when it starts (so parallel guesses see each other);
  `ok` counts the attempts that turned out right; failures = tries - ok.
- `wait` exists while the next attempt must wait. Past the free failures, an admitted attempt
  takes `wait` itself *before* checking the password, for the length the next one would wait if
  this one fails: of several parallel attempts only the first to increment it goes on.
- An account's unblock moves it to a new generation: its (account, address) records, keyed by
  the generation, are left behind (they expire on their own) since they cannot be listed.

Nothing here knows about requests: the views pass the normalised e-mail and the address.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

from limits.storage import Storage

PREFIX = "pvplatform/login"


@dataclass(frozen=True)
class Rule:
    name: str
    free: int  # failures allowed before any wait
    memory: int  # seconds failures are remembered, from the first one
    first_wait: int  # seconds, after the free failures
    max_wait: int

    def wait_after(self, failures: int) -> int:
        """Seconds the next attempt waits after this many failures."""
        if failures < self.free:
            return 0
        doublings = min(failures - self.free, 32)
        return min(self.first_wait * 2**doublings, self.max_wait)


PAIR = Rule("pair", free=5, memory=24 * 3600, first_wait=60, max_wait=15 * 60)
ADDRESS = Rule("address", free=100, memory=3600, first_wait=60, max_wait=15 * 60)
# When an account's generation expires (and reads 0 again), the records it left behind under
# generation 0, written before its first unblock, have long expired (see unblock_account).
GENERATION_MEMORY = PAIR.memory + PAIR.max_wait + 3600


def _digest(*parts: str) -> str:
    # Fixed-length keys whatever was typed (memcached, for one, refuses spaces and long keys).
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()[:40]


def _now() -> float:
    return time.time()  # the storages' own clock (their expiries are time.time() based)


@dataclass
class _Slot:
    rule: Rule
    key: str
    holds_wait: bool = False

    def part(self, name: str) -> str:
        return f"{PREFIX}/{self.rule.name}/{self.key}/{name}"


@dataclass
class Attempt:
    """One login attempt: refused (`retry_after` seconds), or admitted and then finished."""

    storage: Storage | None
    slots: list[_Slot] = field(default_factory=list)
    retry_after: int = 0
    finished: bool = False

    @property
    def refused(self) -> bool:
        return self.retry_after > 0

    def succeeded(self) -> None:
        """The password was right: nothing of this attempt counts against anyone."""
        if self.storage is None or self.refused or self.finished:
            return
        self.finished = True
        for slot in self.slots:
            if slot.rule is PAIR:
                for name in ("tries", "ok", "wait"):
                    self.storage.clear(slot.part(name))
                continue
            _refund(self.storage, slot)
            if slot.holds_wait:
                self.storage.clear(slot.part("wait"))

    def failed(self) -> None:
        """The password was wrong: the attempt stays counted; past the free ones, a wait."""
        if self.storage is None or self.refused or self.finished:
            return
        self.finished = True
        for slot in self.slots:
            if slot.holds_wait:
                continue  # taken before the check, for the length that follows this failure
            failures = _failures(self.storage, slot)
            wait = slot.rule.wait_after(failures)
            if wait:
                self.storage.incr(slot.part("wait"), wait)


def _failures(storage: Storage, slot: _Slot) -> int:
    return max(0, storage.get(slot.part("tries")) - storage.get(slot.part("ok")))


def _refund(storage: Storage, slot: _Slot) -> None:
    # `ok` expires with `tries`, so that failures stay tries - ok over the same window.
    left = math.ceil(storage.get_expiry(slot.part("tries")) - _now())
    if left > 0:
        storage.incr(slot.part("ok"), left)


def _seconds_left(storage: Storage, key: str) -> int:
    return max(1, math.ceil(storage.get_expiry(key) - _now()))


def _generation(storage: Storage, email: str) -> str:
    return str(storage.get(f"{PREFIX}/generation/{_digest(email)}"))


def _slots(storage: Storage, email: str, address: str) -> list[_Slot]:
    pair = _digest(_generation(storage, email), email, address)
    return [_Slot(PAIR, pair), _Slot(ADDRESS, _digest(address))]


def begin(storage: Storage | None, email: str, address: str) -> Attempt:
    """Before the password is checked: refused while a wait runs, else admitted and counted.
    `email` is normalised by the caller; `storage` None means no throttling."""
    if storage is None:
        return Attempt(None)
    slots = _slots(storage, email, address)
    attempt = Attempt(storage, slots)
    for slot in slots:
        if storage.get(slot.part("wait")):
            attempt.retry_after = max(attempt.retry_after,
                                      _seconds_left(storage, slot.part("wait")))
    if attempt.refused:
        return attempt
    taken: list[_Slot] = []
    for slot in slots:
        before = storage.incr(slot.part("tries"), slot.rule.memory) - 1 \
            - storage.get(slot.part("ok"))
        taken.append(slot)
        if before < slot.rule.free:
            continue
        # Past the free failures: one attempt per wait, and it holds the next wait already.
        if storage.incr(slot.part("wait"), slot.rule.wait_after(before + 1)) == 1:
            slot.holds_wait = True
            continue
        # Another attempt got there first: this one is refused, and counts for nobody.
        attempt.retry_after = _seconds_left(storage, slot.part("wait"))
        for undo in taken:
            _refund(storage, undo)
            if undo.holds_wait:
                storage.clear(undo.part("wait"))
        break
    return attempt


def unblock_account(storage: Storage | None, email: str) -> None:
    """Forgets every (account, address) record of this account, whatever the address.

    The records cannot be listed, so the account moves to a new generation. Its number grows by
    the current time (not by one): when the generation itself expires and a later unblock starts
    again, the new number cannot meet a number whose records still exist."""
    if storage is None:
        return
    storage.incr(f"{PREFIX}/generation/{_digest(email)}", GENERATION_MEMORY,
                 amount=max(1, int(_now())))


def unblock_address(storage: Storage | None, address: str) -> None:
    """Forgets the failures counted for this address (all accounts together)."""
    if storage is None:
        return
    slot = _Slot(ADDRESS, _digest(address))
    for name in ("tries", "ok", "wait"):
        storage.clear(slot.part(name))
