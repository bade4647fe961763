"""SQL statements per Celery task, counted inside a worker for the benchmarks; no production code.

A benchmark starts its worker with `--include bench.sqlcount` and `BENCH_SQL_COUNT_DIR` set. The
worker's main process imports this module before it forks its pool, so every pool process counts
the statements each task runs (Django's `execute_wrapper`, put on its connections as a task starts) and,
after each task, writes its totals by task name to `<dir>/<pid>.json`. `totals(dir)` adds them up.
"""

import json
import os
import threading
from collections import Counter
from pathlib import Path

from celery.signals import task_postrun, task_prerun
from django.db import connections

DIRECTORY = os.environ.get("BENCH_SQL_COUNT_DIR", "")
_statements: Counter = Counter()  # task name -> statements
_tasks: Counter = Counter()  # task name -> tasks run
_current = threading.local()  # the running task's statements, in its thread
_lock = threading.Lock()


def _count(execute, sql, params, many, context):
    _current.statements += 1
    return execute(sql, params, many, context)


@task_prerun.connect
def _started(**kwargs) -> None:
    _current.statements = 0
    for connection in connections.all():
        if DIRECTORY and _count not in connection.execute_wrappers:
            connection.execute_wrappers.append(_count)


@task_postrun.connect
def _ended(sender=None, **kwargs) -> None:
    if not DIRECTORY:
        return
    with _lock:
        _statements[sender.name] += _current.statements
        _tasks[sender.name] += 1
        # Written aside, then renamed over the old file: `totals` may read it at any moment.
        path = Path(DIRECTORY) / f"{os.getpid()}.json"
        aside = path.with_suffix(".tmp")
        aside.write_text(json.dumps({"statements": _statements, "tasks": _tasks}))
        os.replace(aside, path)


def totals(directory: Path) -> tuple[Counter, Counter]:
    """(statements by task name, tasks run by task name) over every process that wrote to `directory`."""
    statements, tasks = Counter(), Counter()
    for path in directory.glob("*.json"):
        data = json.loads(path.read_text())
        statements.update(data["statements"])
        tasks.update(data["tasks"])
    return statements, tasks
