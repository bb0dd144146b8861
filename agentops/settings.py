"""Settings for AgentOps Replay, read from the environment through django-environ.

Without ``DATABASE_URL`` the service runs on an embedded SQLite file under ``var/``.
``agentops.settings_production`` layers the production requirements on top of this module.
"""

import socket
from pathlib import Path

import environ

from agentops import __version__

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env(
    "SECRET_KEY",
    default="development-only-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz",
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "compliance.admin_config.ComplianceAdminConfig",  # django.contrib.admin, the console's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    # Swagger UI's scripts and styles, pinned in requirements.txt and served from STATIC_URL.
    "drf_spectacular_sidecar",
    "ingestion",
    "policy",
    # Background export jobs (compliance.jobs): the tasks framework and its database queue
    # (before compliance, whose admin module takes the queue's admin out of the console).
    "django_tasks",
    "django_tasks_db",
    "compliance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the console's CSS and scripts from gunicorn; no separate web server needed.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The access ledger: who looked at which evidence (compliance/access.py).
    "compliance.access.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "agentops.urls"
WSGI_APPLICATION = "agentops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'agentops.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Appends take a write lock at once instead of failing on lock upgrade under concurrency.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate limits count here, so every worker and every server must see the same cache: by
# default a table of the database (created by migration ingestion/0007), or Redis with
# AGENTOPS_CACHE_URL=redis://host:6379/0 (Django's own Redis backend, with the redis client).
# A per-process cache (locmemcache://) gives each gunicorn worker a rate limit of its own.
_CACHE_URL = env.str("AGENTOPS_CACHE_URL", default="dbcache://agentops_cache")
CACHES = {
    "default": env.cache_url_config(
        _CACHE_URL,
        # django-environ would prefer the django-redis package whenever it is installed.
        backend="django.core.cache.backends.redis.RedisCache"
        if _CACHE_URL.startswith(("redis://", "rediss://"))
        else None,
    )
}

# Reads every pbkdf2_sha256 hash Django makes; never re-hashes one at login (see the module).
PASSWORD_HASHERS = ["agentops.hashers.PBKDF2KeptAtLoginHasher"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))
# Without collectstatic (development, make run, make demo) files are found in the apps;
# production images run collectstatic and turn this off.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}

# --- REST API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ingestion.api.parsers.StrictJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["ingestion.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ingestion.api.authentication.ApiKeyRequired"],
    "DEFAULT_THROTTLE_CLASSES": ["ingestion.api.throttling.ApiKeyRateThrottle"],
    # The client address of rate limits: REMOTE_ADDR, or with N trusted proxies in front the
    # address the N-th of them (from the right) wrote into X-Forwarded-For. Never the header
    # as the client sent it: anyone could then pick the address that is counted.
    "NUM_PROXIES": env.int("AGENTOPS_TRUSTED_PROXIES", default=0),
    "EXCEPTION_HANDLER": "ingestion.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AgentOps Replay ingestion API",
    "DESCRIPTION": "Server authority for the AgentOps event log: ingest, seal, verify.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ loads Swagger UI from this service (drf-spectacular-sidecar), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema's address to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # One enum each for every field that holds an evidence class or a verification status.
    "ENUM_NAME_OVERRIDES": {
        "EvidenceClassEnum": "ingestion.models.EvidenceClass.values",
        "VerificationStatusEnum": "ingestion.models.VerificationStatus.values",
    },
}
API_KEY_CUSTOM_HEADER = "HTTP_AUTHORIZATION"

# --- AgentOps -----------------------------------------------------------------------------
AGENTOPS_INGESTION_SERVICE_ID = env(
    "AGENTOPS_INGESTION_SERVICE_ID", default=f"agentops-ingest@{socket.gethostname()}"
)
AGENTOPS_SEAL_KEY_FILE = env("AGENTOPS_SEAL_KEY_FILE", default="")
# Development only: where a sealing key is generated on first use when none is configured.
AGENTOPS_DEV_SEAL_KEY_FILE = env(
    "AGENTOPS_DEV_SEAL_KEY_FILE", default=str(VAR_DIR / "dev-seal-key.pem")
)
AGENTOPS_REQUIRE_SEAL_KEY = env.bool("AGENTOPS_REQUIRE_SEAL_KEY", default=False)
# Public keys (files: PEM or raw base64) of retired sealing keys; old seals keep verifying.
AGENTOPS_RETIRED_PUBLIC_KEYS = env.list("AGENTOPS_RETIRED_PUBLIC_KEYS", default=[])
# Transparency log: a signed tree head at least this often (seconds) while seals arrive, and
# an RFC 3161 time-stamping authority that timestamps each head when set.
AGENTOPS_LOG_STH_INTERVAL = env.int("AGENTOPS_LOG_STH_INTERVAL", default=60)
AGENTOPS_TSA_URL = env("AGENTOPS_TSA_URL", default="")

AGENTOPS_MAX_EVENTS_PER_REQUEST = env.int("AGENTOPS_MAX_EVENTS_PER_REQUEST", default=1000)
AGENTOPS_MAX_REQUEST_BYTES = env.int("AGENTOPS_MAX_REQUEST_BYTES", default=5 * 1024 * 1024)
AGENTOPS_MAX_PAYLOAD_BYTES = env.int("AGENTOPS_MAX_PAYLOAD_BYTES", default=256 * 1024)
AGENTOPS_API_RATE = env("AGENTOPS_API_RATE", default="6000/min")
# Missing, invalid, expired or revoked keys per client address; over it, 429 before any lookup.
AGENTOPS_AUTH_FAILURE_RATE = env("AGENTOPS_AUTH_FAILURE_RATE", default="30/min")
DATA_UPLOAD_MAX_MEMORY_SIZE = AGENTOPS_MAX_REQUEST_BYTES + 1024

# OTLP/HTTP trace ingestion (POST /v1/traces): limits on one export request.
AGENTOPS_OTLP_MAX_DECOMPRESSED_BYTES = env.int(
    "AGENTOPS_OTLP_MAX_DECOMPRESSED_BYTES", default=4 * AGENTOPS_MAX_REQUEST_BYTES
)
AGENTOPS_OTLP_MAX_SPANS_PER_REQUEST = env.int("AGENTOPS_OTLP_MAX_SPANS_PER_REQUEST", default=2048)
AGENTOPS_OTLP_MAX_ATTRIBUTES = env.int("AGENTOPS_OTLP_MAX_ATTRIBUTES", default=1024)
AGENTOPS_OTLP_MAX_STRING_CHARS = env.int("AGENTOPS_OTLP_MAX_STRING_CHARS", default=128 * 1024)
AGENTOPS_OTLP_MAX_VALUE_DEPTH = env.int("AGENTOPS_OTLP_MAX_VALUE_DEPTH", default=16)
# The end of a root agent span appends SESSION_END and seals its session.
AGENTOPS_OTLP_END_ON_ROOT_SPAN = env.bool("AGENTOPS_OTLP_END_ON_ROOT_SPAN", default=True)

# Dotted paths of callables the ingestion service runs; see ingestion/services/ for the
# exact call signatures. Batch checks may refuse a batch inside the append transaction; seal
# hooks run after a seal has committed.
AGENTOPS_BATCH_CHECKS: list[str] = []
AGENTOPS_SEAL_HOOKS: list[str] = []

# Policy engine: ingestion-time rules and evaluation when a session is sealed.
AGENTOPS_BATCH_CHECKS = ["policy.services.batch_check"]
AGENTOPS_SEAL_HOOKS = ["policy.services.seal_hook"]
AGENTOPS_PII_DEFAULT_REGION = env("AGENTOPS_PII_DEFAULT_REGION", default="US")
# Key of the subject fingerprints (policy.subjects): HMAC-SHA-256 of normalized personal data,
# so that erasure finds a data subject's events. Empty: derived from SECRET_KEY (logged warning).
AGENTOPS_SUBJECT_KEY = env("AGENTOPS_SUBJECT_KEY", default="")
# Project name -> policy file (relative to the repository); other projects use the default.
AGENTOPS_POLICY_FILES = env.dict("AGENTOPS_POLICY_FILES", default={})

# Background export jobs (compliance.jobs): queued in the database, run by
# `manage.py export_worker` (django-tasks' db_worker, after re-queueing jobs whose worker died).
TASKS = {
    "default": {
        "BACKEND": env("AGENTOPS_TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "exports"],
    }
}
# Finished export files, until they expire; written through a temporary name and renamed.
AGENTOPS_EXPORT_JOB_DIR = env("AGENTOPS_EXPORT_JOB_DIR", default=str(VAR_DIR / "export-jobs"))
# A JSON or JSONL export of more events than this is a job (202); a PDF always is.
AGENTOPS_EXPORT_INLINE_MAX_EVENTS = env.int("AGENTOPS_EXPORT_INLINE_MAX_EVENTS", default=20000)
# Export jobs one project may have queued or running at once (429 EXPORT_JOBS_LIMIT beyond).
AGENTOPS_EXPORT_JOBS_PER_PROJECT = env.int("AGENTOPS_EXPORT_JOBS_PER_PROJECT", default=3)
# A running job not heard from for this long lost its worker: it is queued again, at most
# AGENTOPS_EXPORT_JOB_ATTEMPTS times in all.
AGENTOPS_EXPORT_JOB_STALE_SECONDS = env.int("AGENTOPS_EXPORT_JOB_STALE_SECONDS", default=120)
AGENTOPS_EXPORT_JOB_ATTEMPTS = env.int("AGENTOPS_EXPORT_JOB_ATTEMPTS", default=3)
# Finished files are deleted this long after they were made (the ledger keeps their hashes).
AGENTOPS_EXPORT_JOB_KEEP_HOURS = env.int("AGENTOPS_EXPORT_JOB_KEEP_HOURS", default=24)
# Niceness an export worker takes at start (0 to 19; 0 keeps the priority it was started
# with): exports are batch work and yield the CPU to the web workers that answer ingestion.
AGENTOPS_EXPORT_WORKER_NICE = env.int("AGENTOPS_EXPORT_WORKER_NICE", default=10)
# Timeline events per WeasyPrint chunk of a PDF (memory is bounded by one chunk).
AGENTOPS_PDF_CHUNK_EVENTS = env.int("AGENTOPS_PDF_CHUNK_EVENTS", default=5000)
# The console's landing page lists open sessions that have recorded nothing for this long.
AGENTOPS_CONSOLE_UNSEALED_HOURS = env.int("AGENTOPS_CONSOLE_UNSEALED_HOURS", default=24)
