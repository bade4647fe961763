"""gunicorn's settings (gunicorn reads this file from its working directory): each access-log line ends
with the request's id (as its application log lines carry it); the metrics directory is wiped when the
master starts (METRICS_WIPE_ON_START) and a worker that exits is marked dead in it.

`upgrades.metrics` is imported only after the settings are read: they point prometheus-client at the
multiprocess directory, which it must know when it is first imported (the workers inherit that import).
"""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")

# gunicorn's default format, then the X-Request-Id the portal answered with.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


def on_starting(server):
    directory, wipe = settings.PROMETHEUS_MULTIPROC_DIR, settings.METRICS_WIPE_ON_START
    from upgrades import metrics

    if wipe:
        metrics.wipe_directory(directory)


def child_exit(server, worker):
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    from upgrades import metrics

    metrics.process_died(worker.pid, directory)
