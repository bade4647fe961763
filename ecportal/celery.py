"""The Celery app: configuration from Django settings (CELERY_*), tasks from installed apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")

app = Celery("ecportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
