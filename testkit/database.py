"""The flush that ends a transactional test, made to outlast a deadlock with a running worker.

The engine, campaign and browser tests keep a real worker and beat running across tests. Django's
flush empties every table with one TRUNCATE, which takes its locks table by table; a worker's
transaction that has read a table later in that list and then reads one earlier deadlocks with it,
and PostgreSQL aborts one of the two. When the flush is the one aborted, nothing was truncated and
the worker's transaction goes on to finish, so the flush is simply run again.
"""

from collections.abc import Callable

from psycopg.errors import DeadlockDetected

ATTEMPTS = 5


def _deadlocked(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, DeadlockDetected):
            return True
        error = error.__cause__
    return False


def outlasting_deadlocks(run: Callable[[], None]) -> None:
    """`run()`, run again (up to ATTEMPTS times in all) while PostgreSQL aborts it for a deadlock."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return run()
        except Exception as error:
            if attempt == ATTEMPTS or not _deadlocked(error):
                raise
