"""The Celery app: configuration from Django settings (CELERY_*), tasks from installed apps."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_shutdown
from django.conf import settings
from django.db import close_old_connections

from ecportal import logcontext, metrics_dir

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")

app = Celery("ecportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _worker_metrics(**_) -> None:
    """The worker's main process, before its pool starts: wipe the metrics directory if it is ours, and
    serve its figures on WORKER_METRICS_PORT if set."""
    if settings.METRICS_WIPE_ON_START:
        metrics_dir.wipe(settings.PROMETHEUS_MULTIPROC_DIR)
    if settings.WORKER_METRICS_PORT:
        from upgrades import metrics  # after the wipe: defining the metrics creates this process's file

        metrics.serve(settings.WORKER_METRICS_PORT, settings.METRICS_TOKEN, settings.PROMETHEUS_MULTIPROC_DIR)


@worker_process_shutdown.connect
def _pool_process_ended(pid=None, **_) -> None:
    metrics_dir.process_died(pid or os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)


@task_prerun.connect
def _fresh_log_context(**_) -> None:
    """Each task's log lines start without the ids a previous task in this thread noted."""
    logcontext.note(request_id=None, upgrade_id=None, cf_request_id=None)


@task_prerun.connect
@task_postrun.connect
def _old_connections_closed(**_) -> None:
    """The task's thread keeps its database connection from task to task until CONN_MAX_AGE, as a web
    thread does from request to request; one that broke or aged is closed (settings: CELERY_DB_REUSE_MAX)."""
    close_old_connections()
