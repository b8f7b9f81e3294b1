"""Settings for the environment backup & restore portal.

Every setting that differs between machines comes from an environment variable, with a default
that runs out of the box (SQLite under var/, DEBUG on). Production sets DEBUG=false, SECRET_KEY,
ALLOWED_HOSTS and DATABASE_URL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal.storage_url import backup_storage_from_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# Off unless asked for: `make run` and `make test` ask (DEBUG=true); a server started with no
# settings shows no tracebacks and no URL patterns.
DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "dev-only-insecure-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (the default). For "
        "development set DEBUG=true, as `make run` and `make test` do."
    )
if not DEBUG and SECRET_KEY == _DEV_SECRET:
    raise ImproperlyConfigured("SECRET_KEY must not be the development key when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # the widget templates, for the project form renderer (FORM_RENDERER)
    "django_htmx",
    "django_tasks_db",
    "axes",
    "portal",
    "environments",
    "backups",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.ViewerTimezoneMiddleware",
    "portal.middleware.RefusalMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Failed sign-ins are throttled by django-axes with three limits (portal.throttling): an account
# from one address (SIGNIN_FAILURE_LIMIT in SIGNIN_COOLOFF_MINUTES), an account from anywhere
# (SIGNIN_ACCOUNT_FAILURE_LIMIT, same time) and an address for any account (the much higher
# SIGNIN_ADDRESS_FAILURE_LIMIT in the shorter SIGNIN_ADDRESS_WINDOW_MINUTES), so that no one
# behind an office's shared address can lock the others out. Past a limit, sign-in waits until
# older failures are forgotten; each lockout is in the audit log. `manage.py axes_reset` (or
# axes_reset_username NAME) lifts lockouts early.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SIGNIN_COOLOFF_MINUTES", 15))
SIGNIN_ACCOUNT_FAILURE_LIMIT = env_int("SIGNIN_ACCOUNT_FAILURE_LIMIT", 20)
SIGNIN_ADDRESS_FAILURE_LIMIT = env_int("SIGNIN_ADDRESS_FAILURE_LIMIT", 50)
SIGNIN_ADDRESS_WINDOW = timedelta(minutes=env_int("SIGNIN_ADDRESS_WINDOW_MINUTES", 5))
if min(AXES_FAILURE_LIMIT, SIGNIN_ACCOUNT_FAILURE_LIMIT, SIGNIN_ADDRESS_FAILURE_LIMIT) < 1:
    raise ImproperlyConfigured("The SIGNIN_*_FAILURE_LIMIT settings must be 1 or more.")
# Axes forgets failures after the cool-off: an address window longer than it would never fill.
if not timedelta(0) < SIGNIN_ADDRESS_WINDOW <= AXES_COOLOFF_TIME:
    raise ImproperlyConfigured(
        "SIGNIN_ADDRESS_WINDOW_MINUTES must be above 0 and at most SIGNIN_COOLOFF_MINUTES."
    )
# Axes itself counts by the pair; portal.throttling.SignInThrottle adds the other two limits.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The failures are counted in axes' own tables (a locked row, failures + 1), so every web
# process sees the same count; its cache handler would count per process here (see CACHES).
AXES_HANDLER = "portal.throttling.SignInThrottle"
AXES_LOCKOUT_CALLABLE = "portal.throttling.lockout_response"
# Not reset by a success: one good sign-in (to the guesser's own account) would also wipe the
# failures of every other account from that address. Old failures expire with the cool-off.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

ROOT_URLCONF = "portal.urls"
# Every form field renders through one project template (templates/includes/field.html).
FORM_RENDERER = "portal.forms.PortalFormRenderer"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "environments.context_processors.navigation",
            ],
            "builtins": ["portal.templatetags.portal"],
        },
    },
]

# With no DATABASE_URL the portal runs on an embedded SQLite file: the quick-start default.
_sqlite_path = BASE_DIR / "var" / "portal.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{_sqlite_path}",
        # Production keeps each process's connection for a minute (a new one costs about as
        # much as a page; bench/scale.py); development and the tests open one a request.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0 if DEBUG else 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a background worker writes; IMMEDIATE takes the write
    # lock at BEGIN so that two writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that a worker process started by the browser tests can open it;
    # one per test run (process), so that runs side by side do not share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(BASE_DIR / "var" / f"test-portal-{os.getpid()}.sqlite3")
    }
    _sqlite_path.parent.mkdir(exist_ok=True)

# Progress of a restore is written through a second connection so that the web process can read
# it while the restore's own transaction is still open (PostgreSQL). SQLite allows one writer at a
# time, so there progress shares the restore's connection and shows phase and elapsed time.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["progress"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
    RESTORE_PROGRESS_DATABASE = "progress"
else:
    RESTORE_PROGRESS_DATABASE = "default"

# Background work (restores, purge) runs on Django's Tasks framework: the database-backed queue
# worked by `manage.py worker`. "immediate" runs a task in-process; the tests use it.
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    "immediate": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
}
TASKS_BACKEND = env_str("TASKS_BACKEND", "default")

# Django's cache stays the default, local to each process: nothing the portal counts or must
# see once lives in it (the limits and the lockout audit count in the database, portal.counters;
# sign-in failures in django-axes' tables; sessions in the database), so several web processes
# need no shared cache service.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "portal.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG  # serve from the source folders while developing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Export archives (backups.archive_storage): the folder var/backups by default, another folder
# (file:///path) or an S3 bucket (s3://bucket/prefix?endpoint_url=...&region=...&sse=AES256).
STORAGES["backups"] = backup_storage_from_url(env_str("BACKUP_STORAGE_URL", ""), BASE_DIR)

# Security: on by default, stricter when DEBUG is off.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A 403 is one line (portal.logfilters): a refusal is not a fault to read a traceback of.
    "filters": {"forbidden_in_one_line": {"()": "portal.logfilters.ForbiddenInOneLine"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["forbidden_in_one_line"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Product settings -------------------------------------------------------------------------

# How long system backups (the continuous restorable window) and manual backups are kept, per
# environment type. Manual backups exist only for the types listed under "manual".
BACKUP_RETENTION = {
    "system": {
        "production": timedelta(days=env_int("RETENTION_PRODUCTION_DAYS", 28)),
        "sandbox": timedelta(days=7),
        "trial": timedelta(0),  # trials are not backed up
        "developer": timedelta(days=7),
        "default": timedelta(days=7),
    },
    "manual": {
        "production": timedelta(days=env_int("RETENTION_PRODUCTION_DAYS", 28)),
        "sandbox": timedelta(days=7),
    },
}

ENVIRONMENT_URL_TEMPLATE = env_str("ENVIRONMENT_URL_TEMPLATE", "https://{slug}.example.test")
REGIONS = [
    ("unitedstates", "United States"),
    ("europe", "Europe"),
    ("asia", "Asia"),
]
DATA_PAGE_SIZE = env_int("DATA_PAGE_SIZE", 25)
# The tenant's storage capacity (environments.capacity): creating, copying or restoring an
# environment is refused when less than CAPACITY_MIN_FREE_GB would remain. A trial environment
# lasts TRIAL_DAYS from its creation, then is disabled.
TENANT_CAPACITY_GB = env_int("TENANT_CAPACITY_GB", 20)
CAPACITY_MIN_FREE_GB = 1
TRIAL_DAYS = 30
RECOVERY_DAYS = 7  # a deleted environment can be recovered this long
if TENANT_CAPACITY_GB < 1:
    raise ImproperlyConfigured("TENANT_CAPACITY_GB must be 1 or more.")
# A running restore writes a heartbeat this often (besides its progress), and one silent for
# RESTORE_STALE_AFTER is taken for dead (its worker died); so is a queued restore whose task a
# worker claimed that long ago without starting it. Every worker's housekeeping looks every
# HOUSEKEEPING_INTERVAL and purges every PURGE_INTERVAL (backups.housekeeping): a dead worker's
# target is Ready again within RESTORE_STALE_AFTER + HOUSEKEEPING_INTERVAL (40 s by default).
RESTORE_HEARTBEAT = timedelta(seconds=env_int("RESTORE_HEARTBEAT_SECONDS", 5))
RESTORE_STALE_AFTER = timedelta(seconds=env_int("RESTORE_STALE_AFTER_SECONDS", 30))
HOUSEKEEPING_INTERVAL = timedelta(seconds=env_int("HOUSEKEEPING_INTERVAL_SECONDS", 10))
PURGE_INTERVAL = timedelta(seconds=env_int("PURGE_INTERVAL_SECONDS", 3600))
# Flattening restored tables (environments.flatten): rows per chunk (one transaction, which a
# write to that environment waits for) and chunks per housekeeping round.
FLATTEN_CHUNK_ROWS = env_int("FLATTEN_CHUNK_ROWS", 10_000)
FLATTEN_CHUNKS_PER_ROUND = env_int("FLATTEN_CHUNKS_PER_ROUND", 20)
if not timedelta(0) < RESTORE_HEARTBEAT < RESTORE_STALE_AFTER:
    raise ImproperlyConfigured(
        "RESTORE_HEARTBEAT_SECONDS must be above 0 and below "
        "RESTORE_STALE_AFTER_SECONDS, or live restores look dead."
    )
if FLATTEN_CHUNK_ROWS < 1 or FLATTEN_CHUNKS_PER_ROUND < 0:
    raise ImproperlyConfigured(
        "FLATTEN_CHUNK_ROWS must be above 0, FLATTEN_CHUNKS_PER_ROUND 0 (off) or more."
    )
if timedelta(0) >= HOUSEKEEPING_INTERVAL or timedelta(0) >= PURGE_INTERVAL:
    raise ImproperlyConfigured(
        "HOUSEKEEPING_INTERVAL_SECONDS and PURGE_INTERVAL_SECONDS must be above 0."
    )
# The JSON API (/api/v1/): writes allowed per token (or signed-in session) per minute, counted
# in the database (portal.counters) so that every web process shares the count. 0: no limit.
API_WRITES_PER_MINUTE = env_int("API_WRITES_PER_MINUTE", 60)
# Failed API token checks allowed per client address per minute; past it the address gets 429
# until the minute is over, so tokens cannot be guessed at speed.
API_TOKEN_FAILURES_PER_MINUTE = env_int("API_TOKEN_FAILURES_PER_MINUTE", 10)
# Disaster recovery (portal.dr, deploy/pg-dr): where the environments list reads how far behind
# the database's standby is; the default asks the primary (pg_stat_replication).
DR_STANDBY_STATUS = env_str("DR_STANDBY_STATUS", "portal.dr.from_pg_stat_replication")

# Exports (backups.exports): archives of an environment at a moment, in STORAGES["backups"]
# (BACKUP_STORAGE_URL). PORTAL_NAME is written in each archive's manifest, so an archive says
# which portal made it when it is restored on another.
PORTAL_NAME = env_str("PORTAL_NAME", "envportal")
# An archive uploaded for Restore from a file is refused above this size.
ARCHIVE_UPLOAD_MAX_MB = env_int("ARCHIVE_UPLOAD_MAX_MB", 10240)

# Email (a failed scheduled export is mailed to the environment's admins), Django 6.1's
# MAILERS: printed on the console while developing (DEBUG, and no EMAIL_HOST); otherwise sent by
# SMTP to EMAIL_HOST (localhost, a local mail server, by default) with EMAIL_PORT,
# EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS.
if DEBUG and not os.environ.get("EMAIL_HOST"):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("EMAIL_HOST", "localhost"),
                "port": env_int("EMAIL_PORT", 25),
                "username": env_str("EMAIL_HOST_USER", ""),
                "password": env_str("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", False),
            },
        }
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "envportal@localhost")
