# AgentOps Replay ingestion service: Django on gunicorn with the production settings.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=agentops.settings_production

# Pango and HarfBuzz for WeasyPrint's PDF reports, and a font for their text.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# requirements.txt installs the SDK from ./sdk, so both come first (and are cached).
COPY requirements.txt ./
COPY sdk ./sdk
RUN pip install -r requirements.txt

# Only what runs: never var/ (a development seal key, a SQLite file) or a local .venv.
COPY manage.py gunicorn.conf.py ./
COPY agentops ./agentops
COPY ingestion ./ingestion
COPY policy ./policy
COPY compliance ./compliance
COPY templates ./templates

# The console's static files, served by WhiteNoise. Collecting needs no secrets, so the
# development settings do it (same STATIC_ROOT, /app/var/static).
RUN DJANGO_SETTINGS_MODULE=agentops.settings python manage.py collectstatic --noinput \
    && rm -f var/dev-seal-key.pem var/agentops.sqlite3

RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin agentops \
    && mkdir -p var \
    && chown agentops var
USER agentops

EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn agentops.wsgi --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --access-logfile -"]
