"""WSGI entry point (gunicorn ecportal.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecportal.settings")
application = get_wsgi_application()
