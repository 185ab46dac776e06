"""Settings, read from the environment.

Every variable has a default that makes the embedded run work on a fresh machine: SQLite and a
filesystem Celery broker under var/, emails written to var/mail/. Production differs only by
environment variables (README lists them).
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def text_is_true(value: str) -> bool:
    """How every boolean variable reads: "1", "true", "yes", "on" (any case) are true."""
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return text_is_true(value)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _embedded_secret_key() -> str:
    """Generate SECRET_KEY once into var/ so that personal links survive restarts and the web
    server and the worker agree on them."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _embedded_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PORT = env_int("PORT", 8000)
# The absolute base of every link in emails and printed output, without a trailing slash.
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "anymail",
    "django_countries",
    "accounts",
    "surveys",
]

MIDDLEWARE = [
    # An id for every request, in its log lines and its X-Request-ID header (middleware.py).
    "eccp_survey.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages compressed for clients that accept gzip (the dashboard's tables and SVG shrink six
    # to sevenfold). Since Django 4.2 it pads each response with up to 100 random bytes ("Heal
    # The Breach") against BREACH, and CSRF tokens are masked per response anyway. After
    # WhiteNoise, which serves its own precompressed static files and returns before this.
    # File downloads (export jobs) are left as they are: eccp_survey/middleware.py.
    "eccp_survey.middleware.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "eccp_survey.urls"
WSGI_APPLICATION = "eccp_survey.wsgi.application"

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
                # The tabs of a survey's area (templates/staff/survey_base.html).
                "surveys.console.navigation.survey_tabs",
            ],
        },
    },
]

# Database: PostgreSQL in production and CI, a SQLite file under var/ by default.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        # Persistent connections: a new PostgreSQL connection per request costs more than
        # the request itself.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web server and a worker write at once: take the write lock up front and wait for it.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "admin:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "Europe/Brussels")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders, so that a run without collectstatic works.
WHITENOISE_USE_FINDERS = True

# Security. The secure-transport settings are off by default (the embedded run is plain HTTP on
# 127.0.0.1) and switched on by environment variables behind HTTPS; see README.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# No URL of ours goes to another site in a Referer header. Not "no-referrer" everywhere: with
# it, browsers send "Origin: null" on form posts and Django's CSRF check refuses them. The one
# URL with a secret, the personal link, answers with "no-referrer" itself and only redirects.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 24 * 30)

# Shared state: sessions, the cache and login throttling --------------------------------------
# Nothing that another gunicorn worker or host must see lives in a process's memory.
# The cache: Redis when CACHE_URL (or REDIS_URL) names one, else a table of the database
# (created by `manage.py createcachetable`; Django's test database creation runs it too).
_cache_url = env_str("CACHE_URL") or env_str("REDIS_URL")
if _cache_url:
    if not _cache_url.startswith(("redis://", "rediss://", "unix://")):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, not {_cache_url!r}")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": "eccp",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }
# Sessions in the database, whichever cache: a logout deletes the row, so the old cookie is
# refused by every worker at once, and a Redis eviction or restart logs nobody out and loses no
# respondent's opened links. One primary-key read per request.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Failed logins (django-axes): counted in the database (AccessAttempt rows, shared by every
# worker, listed in the admin where an Admin unlocks by deleting them). AXES_FAILURE_LIMIT
# failures lock the account (from any address) and, separately, the address (for any account)
# for AXES_COOLOFF_MINUTES; a lock-out answers 429 with templates/accounts/locked_out.html
# (accounts/views.py).
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes requires
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked_out"
# The address: REMOTE_ADDR, or behind TRUSTED_PROXIES reverse proxies the X-Forwarded-For entry
# the outermost of them wrote (eccp_survey/addresses.py); without it every login behind a proxy
# would share the proxy's address, and five wrong passwords anywhere would lock everyone out.
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0)
AXES_CLIENT_IP_CALLABLE = "eccp_survey.addresses.client_address"
AXES_VERBOSE = False

# Email: Django's own variable names. By default messages are written to files under var/mail/.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "ECCP survey <survey@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# Celery. The default broker needs no server: kombu's filesystem transport under var/celery/.
# "localhost" only silences kombu's "no hostname" warning: the filesystem transport has none.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _celery_dir = VAR_DIR / "celery"
    _queue_dir, _processed_dir, _control_dir = (
        _celery_dir / "queue",
        _celery_dir / "processed",
        _celery_dir / "control",
    )
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "store_processed": False,
        "control_folder": str(_control_dir),
        "polling_interval": 0.2,
    }
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "eccp_survey")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE

INSTALLED_APPS += ["django_filters", "drf_spectacular", "drf_spectacular_sidecar"]
# The JSON API (/api/v1/; conventions in eccp_survey/api/): personal API tokens for scripts,
# the session for the browser; one error body for every 4xx; per-token rate limits in the
# shared cache; cursor pagination, django-filter and ordering on every list.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "eccp_survey.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["eccp_survey.api.throttling.ApiRateThrottle"],
    "EXCEPTION_HANDLER": "eccp_survey.api.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "eccp_survey.api.pagination.ApiCursorPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
# Requests per API token (or signed-in user, or personal link) per window: "N/second|minute|
# hour|day"; empty: no limit. Over it: 429 with Retry-After (eccp_survey/api/throttling.py).
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "1000/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "ECCP survey API",
    "DESCRIPTION": (
        "Everything staff do, scriptable: organisations and contacts, surveys, waves, "
        "invitations, reminders, responses, statistics and exports; and the respondent API. "
        'Every 4xx has the body {"errors": [{"field", "code", "message"}]}. '
        "Lists are cursor-paginated (follow `next`). Authenticate with a personal API token "
        "(`Authorization: Bearer eccp_...`, from /staff/api-tokens/) or the browser session."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # drf-spectacular's own enum hook, then the error responses of every operation.
    "POSTPROCESSING_HOOKS": ["eccp_survey.api.schema.postprocess_common_errors"],
    "ENUM_NAME_OVERRIDES": {
        "SurveyStatusEnum": "surveys.models.questionnaire.Survey.Status",
        "WaveStatusEnum": "surveys.models.outreach.Wave.Status",
        "ExportJobStatusEnum": "surveys.models.results.ExportJob.Status",
        "ExportJobFormatEnum": "surveys.models.results.ExportJob.Format",
        "ResponseStatusEnum": ["partial", "completed"],
        "ApiTokenScopeEnum": "accounts.models.ApiToken.Scope",
        "WebhookEventTypeEnum": "surveys.models.webhooks.WebhookEventType",
        "WebhookDeliveryStatusEnum": "surveys.models.webhooks.WebhookEvent.Status",
    },
}

# Personal-link tokens must never reach a log: every handler runs the redaction filter.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "eccp_survey.log_filters.RequestIdFilter"},
        "redact_tokens": {"()": "eccp_survey.log_filters.RedactTokensFilter"},
        "forbidden_without_traceback": {
            "()": "eccp_survey.log_filters.ForbiddenWithoutTracebackFilter"
        },
    },
    "formatters": {
        "plain": {"format": "{asctime} [{request_id}] {levelname} {name}: {message}", "style": "{"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            # request_id first: redact_tokens drops the request attached to the record.
            "filters": ["request_id", "redact_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # A 403 logs one line, without the traceback Django attaches (log_filters.py).
        "django.request": {
            "handlers": ["console"],
            "level": "WARNING",
            "propagate": False,
            "filters": ["forbidden_without_traceback"],
        },
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # WeasyPrint logs every layout step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # django-axes logs every login and logout at INFO (Axes → Access logs has them);
        # failures and lock-outs are warnings.
        "axes": {"level": "WARNING"},
    },
}

# The full ISO 3166-1 list, plus Kosovo's user-assigned code (glossary).
COUNTRIES_OVERRIDE = {"XK": "Kosovo"}
# Viewers see "fewer than N" instead of the figures of a selection or breakdown row with fewer
# started responses (surveys/results/disclosure.py; docs/glossary.md, Roles).
SMALL_CELL_MINIMUM = env_int("SMALL_CELL_MINIMUM", 5)

# Outreach (waves, reminders): batches over one SMTP connection, rate limit, retries.
# 200 a batch: the claim, the eligibility queries and the SMTP handshake are paid once per
# batch (bench/send_wave.py: +13% emails/s over 50), and a batch still takes under a second.
EMAIL_BATCH_SIZE = env_int("EMAIL_BATCH_SIZE", 200)
# SMTP conversations in flight per worker process: a sending thread each, with a persistent SMTP
# connection; the threads share the process's one database connection. 16: against a relay
# answering in 50 ms, bench/send_wave.py measured 139 emails/s with 8 and 182/s with 16 on a
# loaded machine (README, Benchmarks); more only helps if the relay allows as many connections.
EMAIL_CONNECTIONS = env_int("EMAIL_CONNECTIONS", 16)
# An SMTP connection idle longer than this is closed and opened again before its next message
# (relays drop idle connections after a minute or a few).
EMAIL_CONNECTION_IDLE_SECONDS = float(env_str("EMAIL_CONNECTION_IDLE_SECONDS", "30"))
# The sending rate limit, shared by every worker process and host (surveys.outreach.rate_limit):
# emails a second and an hour (spread evenly), globally; surveys may set their own on top.
EMAIL_RATE_PER_SECOND = float(env_str("EMAIL_RATE_PER_SECOND", "0"))  # 0: no limit
EMAIL_RATE_PER_HOUR = env_int("EMAIL_RATE_PER_HOUR", 0)  # 0: no limit
# Where the limiter keeps its buckets: "redis" (EMAIL_RATE_LIMIT_REDIS_URL, else a redis://
# cache or broker URL), "database" (a row per bucket, row-locked), or "auto": Redis when one of
# those URLs is Redis, else the database (the embedded run).
EMAIL_RATE_LIMITER = env_str("EMAIL_RATE_LIMITER", "auto")
EMAIL_RATE_LIMIT_REDIS_URL = env_str("EMAIL_RATE_LIMIT_REDIS_URL") or next(
    (
        url
        for url in (env_str("CACHE_URL"), env_str("REDIS_URL"), CELERY_BROKER_URL)
        if url.startswith(("redis://", "rediss://"))
    ),
    "",
)
# Automatic pause: a wave pauses itself when more than EMAIL_PAUSE_FAILURE_RATE of its last
# EMAIL_PAUSE_WINDOW attempted deliveries failed (temporarily or for good), counted once at
# least EMAIL_PAUSE_MIN_ATTEMPTS were attempted. EMAIL_PAUSE_FAILURE_RATE=1 switches it off.
EMAIL_PAUSE_FAILURE_RATE = float(env_str("EMAIL_PAUSE_FAILURE_RATE", "0.05"))
EMAIL_PAUSE_WINDOW = env_int("EMAIL_PAUSE_WINDOW", 200)
EMAIL_PAUSE_MIN_ATTEMPTS = env_int("EMAIL_PAUSE_MIN_ATTEMPTS", 50)
EMAIL_RETRY_BASE_SECONDS = float(env_str("EMAIL_RETRY_BASE_SECONDS", "30"))
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 8)
EMAIL_MESSAGE_ID_DOMAIN = env_str("EMAIL_MESSAGE_ID_DOMAIN", "eccp-survey.local")
# A delivery claimed longer ago than this belongs to a dead worker and is queued again.
DELIVERY_CLAIM_TIMEOUT = env_int("DELIVERY_CLAIM_TIMEOUT", 300)
# A queued delivery whose task was queued longer ago than this gets a new task.
DELIVERY_REQUEUE_AFTER = env_int("DELIVERY_REQUEUE_AFTER", 600)
# django-anymail (optional): set EMAIL_BACKEND to an anymail backend, its credentials in
# ANYMAIL_* variables, and ANYMAIL_WEBHOOK_SECRET ("user:password") to receive bounces and
# complaints at /anymail/<esp>/tracking/.
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
CELERY_BEAT_SCHEDULE = {
    "export-jobs-clean": {
        "task": "surveys.export_jobs_clean",
        "schedule": 3600.0,  # hourly; deletes export files older than 7 days
    },
    "stats-summaries-fold": {
        "task": "surveys.stats_summaries_fold",
        "schedule": 30.0,  # folds pending statistics deltas (surveys/results/summaries.py)
    },
    "outreach-sweep": {
        "task": "surveys.outreach_sweep",
        "schedule": float(env_str("OUTREACH_SWEEP_SECONDS", "60")),
    },
    "webhooks-sweep": {
        "task": "surveys.webhooks_sweep",
        "schedule": float(env_str("WEBHOOKS_SWEEP_SECONDS", "60")),
    },
    "expired-rows-delete": {
        "task": "accounts.expired_rows_delete",
        "schedule": 86400.0,  # daily; expired sessions, ended API rate windows
    },
}

# Webhooks (surveys/webhooks/): signed POSTs of events, retried with exponential backoff.
WEBHOOK_TIMEOUT_SECONDS = float(env_str("WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_SECONDS = float(env_str("WEBHOOK_RETRY_BASE_SECONDS", "30"))
# An event claimed longer ago than this belongs to a dead worker and is queued again (longer
# than one POST's timeout).
WEBHOOK_CLAIM_TIMEOUT = env_int("WEBHOOK_CLAIM_TIMEOUT", 120)
# A queued event whose task was queued longer ago than this gets a new task.
WEBHOOK_REQUEUE_AFTER = env_int("WEBHOOK_REQUEUE_AFTER", 600)
# Off: a URL resolving to a loopback, private or link-local address is refused at send time.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", False)

# Hardening (issue 9) ----------------------------------------------------------------------------
# Queued or running export jobs (XLSX, .sav) one user may have at once; one more is refused with
# a message on the exports page.
EXPORT_JOBS_PER_USER = env_int("EXPORT_JOBS_PER_USER", 3)
# The email service whose tracking webhook (bounces, complaints) is mounted, at
# /anymail/<service>/tracking/ (surveys/outreach/webhooks.py): ANYMAIL_ESP ("postmark",
# "sendgrid", ...), else the service of an anymail EMAIL_BACKEND; no other service's webhook is.
ANYMAIL_ESP = env_str("ANYMAIL_ESP") or (
    EMAIL_BACKEND.removeprefix("anymail.backends.").split(".", 1)[0]
    if EMAIL_BACKEND.startswith("anymail.backends.")
    else ""
)
ANYMAIL.pop("ESP", None)  # ours, not an anymail setting
# Content-Security-Policy on every response (django-csp 4's dict format). Scripts and styles come
# only from our static files: no inline script element, event handler or style attribute anywhere
# (templates/ and the admin; tests/test_content_security_policy.py checks the templates and
# watches a browser's console); inline SVG charts use presentation attributes, which CSP allows.
INSTALLED_APPS += ["csp"]  # its system check refuses django-csp 3's settings
# Before axes, which must stay last: its lock-out page gets the header too.
MIDDLEWARE.insert(
    MIDDLEWARE.index("axes.middleware.AxesMiddleware"), "csp.middleware.CSPMiddleware"
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
