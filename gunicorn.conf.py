"""gunicorn's hooks (gunicorn reads this file from its working directory): the metrics directory is wiped
when the master starts (METRICS_WIPE_ON_START) and a worker that exits is marked dead in it.

`upgrades.metrics` is imported only after the settings are read: they point prometheus-client at the
multiprocess directory, which it must know when it is first imported (the workers inherit that import).
"""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")


def on_starting(server):
    directory, wipe = settings.PROMETHEUS_MULTIPROC_DIR, settings.METRICS_WIPE_ON_START
    from upgrades import metrics

    if wipe:
        metrics.wipe_directory(directory)


def child_exit(server, worker):
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    from upgrades import metrics

    metrics.process_died(worker.pid, directory)
