"""gunicorn's settings (gunicorn reads this file from its working directory): each access-log line ends
with the request's id (as its application log lines carry it); the metrics directory is wiped when the
master starts (METRICS_WIPE_ON_START) and a worker that exits is marked dead in it.
"""

import os

from django.conf import settings

from ecportal import metrics_dir

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")

# gunicorn's default format, then the X-Request-Id the portal answered with.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


def on_starting(server):
    if settings.METRICS_WIPE_ON_START:
        metrics_dir.wipe(settings.PROMETHEUS_MULTIPROC_DIR)


def child_exit(server, worker):
    metrics_dir.process_died(worker.pid, settings.PROMETHEUS_MULTIPROC_DIR)
