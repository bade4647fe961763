FROM python:3.13-slim
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir . && \
    DJANGO_SETTINGS_MODULE=ecportal.settings SECRET_KEY=build python manage.py collectstatic --no-input
USER nobody
EXPOSE 8000
