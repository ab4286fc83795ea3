"""Who a row is: a signed-in user, or an anonymous session, as a dense shopper row.

A row naming a ``user_id`` is that user's; a row naming only a ``session_id`` is the
session's own (anonymous) shopper. When a row names both and the session had an anonymous
shopper, that shopper folds into the user (:meth:`ShopperRows.resolve` reports the fold;
the history merges it) and the session then means the user. Anonymous sessions idle for the
TTL are forgotten and their rows reused (:meth:`ShopperRows.expire`), so anonymous traffic
cannot grow the state without bound; users keep their rows.
"""

from __future__ import annotations

import operator

import numpy as np

from ranking.live.catalog import grown

NEVER = np.iinfo(np.int32).min


def shopper_runs(user_ids: np.ndarray, session_ids: list[str | None]) -> np.ndarray:
    """Where each run of consecutive rows naming one shopper (user id and session id) begins:
    a poll's ~2,000 impression rows are ~100 pages' runs of 20 cards."""
    n = len(user_ids)
    change = np.ones(n, bool)
    np.not_equal(user_ids[1:], user_ids[:-1], out=change[1:])
    if n > 1 and session_ids.count(None) != n:  # the usual signed-in page names no session
        change[1:] |= np.fromiter(map(operator.ne, session_ids[1:], session_ids[:-1]), bool, n - 1)
    return np.flatnonzero(change)


class ShopperRows:
    """User ids and session ids to shopper rows; sessions fold into users."""

    def __init__(self) -> None:
        self.users: dict[int, int] = {}
        self.sessions: dict[str, int] = {}
        self.anonymous = np.zeros(0, bool)
        self.last_seen = np.zeros(0, np.int32)
        self._free: list[int] = []
        self.rows = 0  # rows ever handed out (free ones included)

    def _new_row(self, anonymous: bool) -> int:
        if self._free:
            row = self._free.pop()
        else:
            row = self.rows
            self.rows += 1
            self.anonymous = grown(self.anonymous, self.rows, False)
            self.last_seen = grown(self.last_seen, self.rows, NEVER)
        self.anonymous[row] = anonymous
        self.last_seen[row] = NEVER
        return row

    def resolve(self, user_ids: np.ndarray, session_ids: list[str | None], times: np.ndarray
                ) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Shopper rows of a batch (new ones made), and the (anonymous row, user row) folds it causes.

        A run of rows naming one shopper (a page's cards) is resolved once, at its first row:
        resolving the same shopper again finds the same row and changes nothing."""
        starts = shopper_runs(user_ids, session_ids)
        heads: list[int] = []
        folds: list[tuple[int, int]] = []
        users, sessions = self.users, self.sessions
        for user, session in zip(user_ids[starts].tolist(), [session_ids[i] for i in starts.tolist()],
                                 strict=True):
            if user >= 0:
                row = users.get(user)
                if row is None:
                    row = users[user] = self._new_row(False)
                if session is not None:
                    before = sessions.get(session)
                    if before is not None and before != row and self.anonymous[before]:
                        folds.append((before, row))
                        self.anonymous[before] = False  # freed once the history has merged it
                    sessions[session] = row
            else:
                row = sessions.get(session)  # type: ignore[arg-type]
                if row is None:
                    row = sessions[session] = self._new_row(True)  # type: ignore[index]
            heads.append(row)
        out = np.repeat(np.array(heads, np.int64), np.diff(starts, append=len(user_ids)))
        np.maximum.at(self.last_seen, out, times)
        return out, folds

    def release(self, row: int) -> None:
        """A folded or expired anonymous row may be reused."""
        self._free.append(row)

    def find(self, user_id: int | None, session_id: str | None) -> int:
        """The shopper row of a request (the user's if signed in, else the session's); -1 unknown."""
        if user_id is not None:
            return self.users.get(int(user_id), -1)
        if session_id is not None:
            return self.sessions.get(session_id, -1)
        return -1

    def expire(self, now: int, ttl_seconds: int) -> list[int]:
        """Forget sessions idle since ``now - ttl``; return the anonymous rows to clear."""
        cutoff = now - ttl_seconds
        gone = [s for s, row in self.sessions.items() if self.last_seen[row] < cutoff]
        cleared = []
        for session in gone:
            row = self.sessions.pop(session)
            if self.anonymous[row]:
                self.anonymous[row] = False
                cleared.append(row)
        return cleared

    def nbytes(self) -> int:
        import sys

        entries = 56 * len(self.users) + 120 * len(self.sessions)  # key, value objects
        return (sys.getsizeof(self.users) + sys.getsizeof(self.sessions) + entries
                + self.anonymous.nbytes + self.last_seen.nbytes)
