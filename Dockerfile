# AgentOps Replay ingestion service: Django on gunicorn with the production settings.
#
# Two stages: the first installs requirements.txt (the runtime only; requirements-dev.txt, with
# the test and lint tools, never enters the image) into a virtualenv, the second copies that
# virtualenv and the application onto a clean slim base.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY requirements.txt ./
COPY sdk ./sdk
# The SDK is installed as a package here, not editable (-e) as for development: the runtime
# stage has no copy of its source.
RUN python -m venv /opt/venv \
    && grep -v '^-e ./sdk' requirements.txt > requirements-runtime.txt \
    && /opt/venv/bin/pip install -r requirements-runtime.txt ./sdk


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=agentops.settings_production

# Pango and HarfBuzz for WeasyPrint's PDF reports, and a font for their text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Only what runs: never var/ (a development seal key, a SQLite file), secrets/ or a local .venv
# (.dockerignore keeps them out of the build context as well).
COPY manage.py gunicorn.conf.py ./
COPY agentops ./agentops
COPY ingestion ./ingestion
COPY policy ./policy
COPY compliance ./compliance
COPY templates ./templates

# The console's static files and the API docs' Swagger UI, served by WhiteNoise. Collecting
# needs no secrets, so the development settings do it (same STATIC_ROOT, /app/var/static).
RUN DJANGO_SETTINGS_MODULE=agentops.settings python manage.py collectstatic --noinput \
    && rm -f var/dev-seal-key.pem var/agentops.sqlite3

RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin agentops \
    && mkdir -p var \
    && chown agentops var
USER agentops

EXPOSE 8000
# docker-compose.yml runs migrations in a service of their own, as the tables' owner; this
# default serves a single container started by hand with one database role.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn agentops.wsgi --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --access-logfile -"]
