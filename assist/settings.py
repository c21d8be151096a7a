"""Assist settings: one file, driven by the environment.

Defaults make a fresh clone run with no services (SQLite, the in-memory channel
layer, Celery on kombu's filesystem transport). Production values come from the
environment: DATABASE_URL, REDIS_URL, DJANGO_SECRET_KEY, MODEL_SIGNING_KEY...
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Local development (`make run`, `make test`): the committed development keys below stand
# in for unset ones. Anywhere else every process refuses to start without real keys: a
# known secret key forges sessions, a known signing key forges model artifacts.
LOCAL_DEV = env_bool("ASSIST_LOCAL_DEV", default=False)
INSECURE_DEV_SECRET_KEY = "django-insecure-assist-development-only-key-do-not-use-in-production"  # noqa: S105 (refused outside development)
INSECURE_DEV_SIGNING_KEY = "assist-development-only-model-signing-key"
INSECURE_DEV_CREDENTIALS_KEY = "assist-development-only-credentials-key"


def env_key(name: str, development_default: str) -> str:
    """A secret from the environment; the development default only in local development."""
    value = env_str(name).strip()
    if value and value != development_default:
        return value
    if LOCAL_DEV:
        return value or development_default
    problem = "the committed development key" if value else "unset or empty"
    raise ImproperlyConfigured(
        f"{name} is {problem}: set it in the environment to a long random value"
        " (or ASSIST_LOCAL_DEV=1 on a development machine)"
    )


DEBUG = env_bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env_key("DJANGO_SECRET_KEY", INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS hardening: on by default, switched off by `make run` (plain http on localhost).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS: a modest hour by default. Sibling subdomains and the browsers' preload list are
# opt-in: either one can lock browsers out of other hosts of the domain for as long as it lasts.
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
# Deliberate opt-ins above (triage/checks.py checks that a preload request is complete).
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles, fonts and connections (the
# websockets too) from this origin only; no inline script, style or handler anywhere.
# Images may also be data: URIs (the API documentation's icons are).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Before DRF's authtoken (kept for the migration that converted its keys), so that
    # Assist's `drf_create_token` (a refusal naming `issue_token`) replaces DRF's.
    "triage",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "channels",
    "django_celery_beat",
    "axes",
]

# Security headers on everything; static files served from the event loop by
# ServeStatic (WhiteNoise's async fork: no thread hop for them); then the CSP header
# and Django's usual chain, run in one worker thread because of the last entry
# (assist/middleware.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "assist.middleware.RefuseNulInQuery",
    "assist.middleware.DatabaseOutage",
    "axes.middleware.AxesMiddleware",
    "assist.middleware.SynchronousChain",
]

ROOT_URLCONF = "assist.urls"
WSGI_APPLICATION = "assist.wsgi.application"
ASGI_APPLICATION = "assist.asgi.application"

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
                "triage.integrations.context.integration_alerts",
            ],
        },
    },
]

# Database: SQLite by default, DATABASE_URL (postgres://...) in production and CI.
DATABASE_URL = env_str("DATABASE_URL")
DATABASES: dict[str, dict[str, Any]]
if DATABASE_URL:
    DATABASES = {
        "default": dict(
            dj_database_url.parse(
                DATABASE_URL,
                conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
                conn_health_checks=True,
            )
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
        # Under ASGI, Django runs each request's sync code in a thread of its own,
        # so "persistent connections" would mean one PostgreSQL connection per
        # thread ever created: under load that exhausts max_connections and turns
        # into 500s. A bounded pool per process (SQLAlchemy's QueuePool through
        # django-db-connection-pool) reuses connections across those threads.
        DATABASES["default"]["ENGINE"] = "dj_db_conn_pool.backends.postgresql"
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # "closing" returns the connection to the pool
        DATABASES["default"]["POOL_OPTIONS"] = {
            "POOL_SIZE": env_int("DATABASE_POOL_SIZE", 8),
            "MAX_OVERFLOW": env_int("DATABASE_POOL_OVERFLOW", 4),
            "TIMEOUT": env_int("DATABASE_POOL_TIMEOUT", 10),
            "RECYCLE": 900,
            "PRE_PING": True,
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("ASSIST_SQLITE_PATH", str(BASE_DIR / "var" / "assist.sqlite3")),
            # WAL and IMMEDIATE transactions let the web server, the worker and
            # the feed write at once without "database is locked".
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not shared-cache memory: concurrent tests (two agents racing)
            # then wait on SQLite's lock instead of failing with "table is locked".
            "TEST": {"NAME": str(BASE_DIR / "var" / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first (it refuses a locked-out login before the password is checked), then
# ModelBackend with a one-query permission check (triage/backends.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "triage.backends.RoleBackend"]
# Login lockout: this many failed logins for one username from one address lock that
# pair out for ASSIST_LOGIN_LOCKOUT_MINUTES, or until an admin lifts it (Users page).
AXES_FAILURE_LIMIT = env_int("ASSIST_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ASSIST_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = 1 if env_bool("DJANGO_BEHIND_PROXY") else None
AXES_VERBOSE = False
# Requests a minute per API user (token); 0 switches the API's throttle off.
API_REQUESTS_PER_MINUTE = env_int("ASSIST_API_REQUESTS_PER_MINUTE", 30_000)
# Password-reset requests an hour per client address.
PASSWORD_RESETS_PER_HOUR = env_int("ASSIST_PASSWORD_RESETS_PER_HOUR", 5)

# Outgoing mail (password-reset links): SMTP when EMAIL_HOST is set, else written to the
# log, so a deployment without a mail relay still shows the link to whoever reads the log.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "assist@localhost")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "queue"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
STORAGES: dict[str, dict[str, Any]] = {
    # Model artifacts go through this storage, so every machine can reach them
    # (a shared volume, or S3 through django-storages; see README).
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "servestatic.storage.CompressedManifestStaticFilesStorage"
            if env_bool("DJANGO_MANIFEST_STATIC", default=not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# S3 or any S3-compatible store (MinIO, Ceph...) for model artifacts when a bucket
# is set; credentials come from the usual AWS_* environment variables.
S3_BUCKET = env_str("ASSIST_S3_BUCKET")
if S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("ASSIST_S3_ENDPOINT_URL") or None,
            "location": env_str("ASSIST_S3_PREFIX", "assist"),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
SERVESTATIC_USE_FINDERS = DEBUG

# Redis: channel layer (fan-out between processes) and Celery broker.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # The cache holds rate-limit counters, shared by every process; short timeouts, so
    # a Redis outage lets requests through (assist/ratelimit.py) instead of holding them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CHANNELS_PREFIX", "assist"),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    # Queue pushes reach a socket at most every triage.broadcast.FLUSH_SECONDS per web
    # process, so a capacity of 500 holds tens of seconds of them for a socket that is
    # busy: longer than the queue socket waits for its page's acknowledgement
    # (triage.consumers.UNACKED_SECONDS). Open sockets renew their group membership
    # (GROUP_RENEW_SECONDS there); a channel left behind by a lost process is pruned
    # after the group expiry, instead of being written to for a day.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env_str("CHANNELS_PREFIX", "assist"),
                "capacity": env_int("CHANNELS_CAPACITY", 500),
                "group_expiry": env_int("CHANNELS_GROUP_EXPIRY", 1800),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: Redis when configured, otherwise an embedded filesystem broker.
CELERY_DATA_DIR = BASE_DIR / "var" / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": 3 * 3600,
        # Sending a task (a retrain request) tries the broker twice, 0.2 s apart, then
        # fails: kombu's default waits seconds, holding the request. Workers reconnect
        # with their own, patient, policy (broker_connection_retry).
        "max_retries": 1,
        "interval_start": 0.2,
        "interval_step": 0,
        "interval_max": 0.2,
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        # Broadcast exchanges (worker control): kept under var/, not in the working directory.
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Mail polls and webhook deliveries have a worker of their own (Procfile): a training
# run holding the main worker never holds up a delivery.
CELERY_TASK_ROUTES = {"triage.integrations.tasks.*": {"queue": "integrations"}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

API_RENDERERS = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    API_RENDERERS.append("rest_framework.renderers.BrowsableAPIRenderer")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "triage.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": API_RENDERERS,
    "DEFAULT_PARSER_CLASSES": ["triage.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "triage.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["triage.api.throttling.PerUserRate"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Assist API",
    "DESCRIPTION": "Ticket ingest, suggestions and triage decisions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the drf-spectacular-sidecar package: served here, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "tryItOutEnabled": False},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "triage.api.schema.postprocess",
    ],
}

# Product settings.
TICKET_BODY_MAX_CHARS = env_int("ASSIST_TICKET_BODY_MAX_CHARS", 20_000)
TICKET_SUBJECT_MAX_CHARS = env_int("ASSIST_TICKET_SUBJECT_MAX_CHARS", 500)
# The largest request body read at all (API JSON included): Django's 2.5 MB, or room
# for the longest ticket written entirely as \uXXXX\uXXXX escapes (12 bytes a character).
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2_621_440, 12 * (TICKET_BODY_MAX_CHARS + TICKET_SUBJECT_MAX_CHARS) + 65_536)
QUEUE_PAGE_SIZE = env_int("ASSIST_QUEUE_PAGE_SIZE", 100)
# The most tickets one bulk triage may take (the queue page's "select all like this", the API).
BULK_TRIAGE_MAX_TICKETS = env_int("ASSIST_BULK_TRIAGE_MAX_TICKETS", 5000)
# How often a process checks whether another model version went live (seconds).
MODEL_REFRESH_SECONDS = env_float("ASSIST_MODEL_REFRESH_SECONDS", 5.0)
# HMAC key for model artifacts (see LOCAL_DEV above; `check --deploy` also refuses a short one).
MODEL_SIGNING_KEY = env_key("MODEL_SIGNING_KEY", INSECURE_DEV_SIGNING_KEY)
# Key that encrypts stored credentials (mailbox passwords, webhook secrets): a known one
# would let anyone with a database dump read them (triage/integrations/crypto.py).
CREDENTIALS_KEY = env_key("ASSIST_CREDENTIALS_KEY", INSECURE_DEV_CREDENTIALS_KEY)
MODEL_ARTIFACT_DIR = "models"
# Share of confirmed tickets held out (the most recent ones) to score a model.
TRAIN_HOLDOUT_SHARE = env_float("ASSIST_TRAIN_HOLDOUT_SHARE", 0.2)
# Below the confidence that gives this precision on held-out tickets, a suggestion
# is shown as "needs a human" instead of being offered for one-key acceptance.
TARGET_PRECISION = env_float("ASSIST_TARGET_PRECISION", 0.95)
# The stack new models are trained with: the sentence encoder's embeddings beside the
# TF-IDF blocks ("minilm-int8", the default; "minilm": the same in float32), or "none"
# for the core stack (scikit-learn and NLTK only: a minimal install). A process asked for
# an encoder it cannot load fails its system check (triage/checks.py).
_ENCODER_SETTING = env_str("ASSIST_MODEL_ENCODER", "minilm-int8").strip().lower() or "minilm-int8"
if _ENCODER_SETTING not in {"minilm-int8", "minilm", "none"}:
    raise ImproperlyConfigured(f"ASSIST_MODEL_ENCODER must be minilm-int8, minilm or none, not {_ENCODER_SETTING!r}")
MODEL_ENCODER = "" if _ENCODER_SETTING == "none" else _ENCODER_SETTING
MODEL_ENCODER_WEIGHT = env_float("ASSIST_MODEL_ENCODER_WEIGHT", 2.0)
# Word-pair features (stems 2..N tokens apart; 0 = off): a small accuracy gain for a
# longer training and one-ticket latency (`bench/quality.py`; docs/model.md, "Word pairs").
MODEL_WORD_PAIRS = env_int("ASSIST_MODEL_WORD_PAIRS", 0)
# From this many confirmed tickets on, training streams them from the database in
# chunks into a hashed-feature, incremental model (triage/ml/streaming.py): the
# TF-IDF + LinearSVC pipeline needs all texts and its whole matrix in memory.
LARGE_TRAINING_ROWS = env_int("ASSIST_LARGE_TRAINING_ROWS", 50_000)
# Tickets read, transformed and learned from at a time on that path.
LARGE_TRAINING_CHUNK_ROWS = env_int("ASSIST_LARGE_TRAINING_CHUNK_ROWS", 10_000)

# How long after a triage its agent may undo it (the queue's toast and `u`, the API's
# undo); 0 turns undo off.
UNDO_SECONDS = env_int("ASSIST_UNDO_SECONDS", 10)
if UNDO_SECONDS < 0:
    raise ImproperlyConfigured(f"ASSIST_UNDO_SECONDS must be 0 or more, not {UNDO_SECONDS}")

# Continuous learning (triage/learning): when to retrain, and the promotion gate.
RETRAIN_AFTER_DECISIONS = env_int("ASSIST_RETRAIN_AFTER_DECISIONS", 200)
# A candidate goes live only if its macro-F1 on the same held-out tickets is not
# lower than the live model's by more than this, and no category's recall falls
# by more than GATE_MAX_RECALL_DROP.
GATE_MAX_MACRO_F1_DROP = env_float("ASSIST_GATE_MAX_MACRO_F1_DROP", 0.005)
GATE_MAX_RECALL_DROP = env_float("ASSIST_GATE_MAX_RECALL_DROP", 0.10)
# The live model has seen older held-out tickets. With at least this many newer
# ones, both are compared on those; with fewer, the live model's configuration is
# refitted on the candidate's training tickets (triage/ml/training.py).
GATE_MIN_UNSEEN_TICKETS = env_int("ASSIST_GATE_MIN_UNSEEN_TICKETS", 200)
# When > 0, a candidate that passes the gate goes into shadow first, and is
# promoted only once this many of its shadow predictions have been decided by agents.
PROMOTION_MIN_SHADOW_TICKETS = env_int("ASSIST_PROMOTION_MIN_SHADOW_TICKETS", 0)
# A running training whose heartbeat is older than this is marked failed by the reaper.
TRAINING_STALE_SECONDS = env_int("ASSIST_TRAINING_STALE_SECONDS", 180)
# A queued training no worker has claimed after this long is sent to the broker again.
TRAINING_RESEND_SECONDS = env_int("ASSIST_TRAINING_RESEND_SECONDS", 900)
# Suggestions kept per process for repeated messages (0 turns the cache off).
SUGGESTION_CACHE_SIZE = env_int("ASSIST_SUGGESTION_CACHE_SIZE", 4096)
# Share of incoming tickets shown to agents without a suggestion (unbiased accuracy).
BLIND_SHARE = env_float("ASSIST_BLIND_SHARE", 0.02)
# Taxonomy (triage/taxonomy): a new category is not suggested until it has this many
# confirmed tickets; the auto-triaged lane shows this many hours; threshold previews
# replay this many days of decisions; rule precision is backtested on this many decisions.
TAXONOMY_MIN_EXAMPLES = env_int("ASSIST_TAXONOMY_MIN_EXAMPLES", 20)
AUTO_TRIAGE_LANE_HOURS = env_int("ASSIST_AUTO_TRIAGE_LANE_HOURS", 24)
THRESHOLD_PREVIEW_DAYS = env_int("ASSIST_THRESHOLD_PREVIEW_DAYS", 30)
RULE_BACKTEST_DECISIONS = env_int("ASSIST_RULE_BACKTEST_DECISIONS", 2000)
# What one admin action may do at most: the new categories of a split, and the confirmed
# tickets plus decisions a merge relabels in its one transaction.
TAXONOMY_MAX_SPLIT_NAMES = env_int("ASSIST_TAXONOMY_MAX_SPLIT_NAMES", 20)
TAXONOMY_MAX_MERGE_ROWS = env_int("ASSIST_TAXONOMY_MAX_MERGE_ROWS", 200_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}


# Reports (triage/reports; docs/reports.md).
# Share of accepted suggestions drawn into the supervisors' quality-check list.
REPORTS_QC_SHARE = env_float("ASSIST_REPORTS_QC_SHARE", 0.02)
# A retrain is requested (trigger "drift") when the live model's suggestions were
# accepted less than this share of the time over the window, with enough decisions.
REPORTS_ACCEPTANCE_FLOOR = env_float("ASSIST_REPORTS_ACCEPTANCE_FLOOR", 0.6)
REPORTS_ACCEPTANCE_WINDOW_DAYS = env_int("ASSIST_REPORTS_ACCEPTANCE_WINDOW_DAYS", 7)
REPORTS_ACCEPTANCE_MIN_DECISIONS = env_int("ASSIST_REPORTS_ACCEPTANCE_MIN_DECISIONS", 100)
# Drift warnings: population stability index of the weekly category mix or
# confidence histogram against the training reference, and the rise of the share
# of never-seen words over the training reference's own (absolute points).
REPORTS_PSI_WARNING = env_float("ASSIST_REPORTS_PSI_WARNING", 0.2)
REPORTS_UNSEEN_WARNING = env_float("ASSIST_REPORTS_UNSEEN_WARNING", 0.05)
# A week with fewer incoming tickets than this shows its measures but raises no drift
# warning: on a handful of tickets PSI is noise.
REPORTS_DRIFT_MIN_TICKETS = env_int("ASSIST_REPORTS_DRIFT_MIN_TICKETS", 100)
# Default date range of the report pages, and the longest one accepted.
REPORTS_DEFAULT_WEEKS = env_int("ASSIST_REPORTS_DEFAULT_WEEKS", 8)
REPORTS_MAX_DAYS = env_int("ASSIST_REPORTS_MAX_DAYS", 731)


# Integrations (triage/integrations; docs/integrations.md).
# Where people reach this Assist (https://assist.example.com): events link to ticket pages.
PUBLIC_URL = env_str("ASSIST_PUBLIC_URL", "").rstrip("/")
# Without Redis a worker cannot push to the agents' pages (the in-memory channel layer
# is per process), so the web process polls mailboxes and delivers webhooks itself.
INTEGRATIONS_IN_WEB = env_bool("ASSIST_INTEGRATIONS_IN_WEB", default=not REDIS_URL)
# A new mailbox's polling interval (each mailbox has its own).
MAIL_POLL_SECONDS = env_int("ASSIST_MAIL_POLL_SECONDS", 30)
# Messages larger than this are skipped (counted, logged) without being downloaded.
MAIL_MAX_BYTES = env_int("ASSIST_MAIL_MAX_BYTES", 25 * 1024 * 1024)
# A message whose text (HTML turned into text) is longer is bad mail, not a ticket.
MAIL_TEXT_MAX_CHARS = env_int("ASSIST_MAIL_TEXT_MAX_CHARS", 100_000)
# Messages read per poll of one mailbox (the next poll goes on with the rest).
MAIL_POLL_BATCH = env_int("ASSIST_MAIL_POLL_BATCH", 100)
MAIL_TIMEOUT_SECONDS = env_float("ASSIST_MAIL_TIMEOUT_SECONDS", 30.0)
# Outbound webhooks: one attempt's timeout, the backoff between attempts (doubling
# from the base to the cap, jittered), how long an event is retried, and how long an
# endpoint may fail before it is disabled.
WEBHOOK_TIMEOUT_SECONDS = env_float("ASSIST_WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_BACKOFF_BASE_SECONDS = env_float("ASSIST_WEBHOOK_BACKOFF_BASE_SECONDS", 5.0)
WEBHOOK_BACKOFF_MAX_SECONDS = env_float("ASSIST_WEBHOOK_BACKOFF_MAX_SECONDS", 600.0)
WEBHOOK_RETRY_HOURS = env_float("ASSIST_WEBHOOK_RETRY_HOURS", 72.0)
WEBHOOK_DISABLE_AFTER_HOURS = env_float("ASSIST_WEBHOOK_DISABLE_AFTER_HOURS", 72.0)
