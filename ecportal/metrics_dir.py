"""Upkeep of the directory prometheus-client's multiprocess mode records into, for the processes that start
and reap the others (`make run`, gunicorn.conf.py, ecportal/celery.py).

It imports no metric: defining one (upgrades.metrics) creates its file for the defining process, which a
wipe right after would orphan.
"""

from pathlib import Path


def wipe(directory: Path | str) -> None:
    """Empty the directory before the processes that share it start (the client's rule: files left by an
    earlier run would add to this run's figures)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for leftover in path.glob("*.db"):
        leftover.unlink(missing_ok=True)


def process_died(pid: int, directory: Path | str) -> None:
    """A process that recorded metrics has exited: its live gauges no longer count."""
    from prometheus_client import multiprocess  # the caller has read the settings by now

    multiprocess.mark_process_dead(pid, str(directory))
