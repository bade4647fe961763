"""The Celery app: configuration from Django settings (CELERY_*), tasks from installed apps."""

import os

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_shutdown
from django.conf import settings

from ecportal import logcontext

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")

app = Celery("ecportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# `upgrades.metrics` is imported only after the settings are read: they point prometheus-client at the
# multiprocess directory, which it must know when it is first imported.


@worker_init.connect
def _worker_metrics(**_) -> None:
    """The worker's main process, before its pool starts: wipe the metrics directory if it is ours, and
    serve its figures on WORKER_METRICS_PORT if set."""
    directory, wipe = settings.PROMETHEUS_MULTIPROC_DIR, settings.METRICS_WIPE_ON_START
    from upgrades import metrics

    if wipe:
        metrics.wipe_directory(directory)
    if settings.WORKER_METRICS_PORT:
        metrics.serve(settings.WORKER_METRICS_PORT, settings.METRICS_TOKEN, directory)


@worker_process_shutdown.connect
def _pool_process_ended(pid=None, **_) -> None:
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    from upgrades import metrics

    metrics.process_died(pid or os.getpid(), directory)


@task_prerun.connect
def _fresh_log_context(**_) -> None:
    """Each task's log lines start without the ids a previous task in this process noted."""
    logcontext.note(request_id=None, upgrade_id=None, cf_request_id=None)
