"""Settings for wb-crm-django, read from the environment (see .env.example)."""
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# No DATABASE_URL means the embedded SQLite file: a newcomer trying the app (`manage.py` with no
# configuration), so DEBUG defaults on there. A configured database defaults to production.
DATABASE_URL = env.str("DATABASE_URL", default="")
DEBUG = env.bool("DEBUG", default=not DATABASE_URL)
# The built-in key only lets a fresh clone run with DEBUG on (bin/run): anyone who read this file
# could sign sessions and password-reset links with it, so with DEBUG off the app refuses it.
DEVELOPMENT_SECRET_KEY = "django-insecure-dev-key-set-SECRET_KEY-in-production"
SECRET_KEY = env("SECRET_KEY", default="") or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set and DEBUG is off: the built-in development key is refused. Set "
        "SECRET_KEY in the environment or .env to a long random string, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'` (or DEBUG=true for "
        "local development only)."
    )
# Integration secrets (Razorpay, Zoho) are encrypted at rest with these Fernet keys, comma-
# separated: the first encrypts, every one decrypts (prepend a new key to rotate, then run
# `manage.py rotate_integration_keys`). The built-in key serves DEBUG runs only, like SECRET_KEY's.
DEVELOPMENT_FIELD_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U="
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[]) or (
    [DEVELOPMENT_FIELD_ENCRYPTION_KEY] if DEBUG else [])
if not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is not set and DEBUG is off: integration secrets could not be "
        "encrypted. Set it in the environment or .env to one or more Fernet keys, comma-separated, "
        "e.g. the output of `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`."
    )
for _key in FIELD_ENCRYPTION_KEY:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key (32 url-safe base64 "
            "bytes): generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`."
        ) from None
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Production behind HTTPS (README "Production"): off by default so that plain-HTTP development
# works; `manage.py check --deploy` names each one left off. Behind a proxy that terminates TLS,
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https (only if the proxy always sets it).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER is a header and its value, e.g. HTTP_X_FORWARDED_PROTO,https."
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "tenancy",
    "crm",
]

MIDDLEWARE = [
    # First, so it times and counts every answer (crm.observability).
    "crm.observability.middleware.request_metrics",
    "django.middleware.security.SecurityMiddleware",
    # Static files (htmx, the inbox's script and styles, the admin's) from STATIC_ROOT, filled
    # by `manage.py collectstatic`: gunicorn alone serves none.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: the signed-in user decides the organization.
    "tenancy.middleware.tenant_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

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

# No DATABASE_URL: an SQLite file in the project folder, so a fresh clone runs in one command.
DATABASES = {
    "default": env.db_url_config(DATABASE_URL or f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
# Persistent connections (seconds; 0 closes after each request), checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, plus the settings the row-level security policies read (tenancy.rls).
    DATABASES["default"]["ENGINE"] = "tenancy.backends.postgresql"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's web process and Celery worker write at once: every transaction takes the write
    # lock first (a claim reads then writes: crm.campaigns.portable), writers wait their turn,
    # and readers do not wait for them (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE", "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }

AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = ["crm.auth.OrganizationUserBackend"]
# wb-crm hashes are passlib bcrypt; migration crm.0004 prefixes them for BCryptPasswordHasher.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

TENANCY_ORGANIZATION_MODEL = "crm.Organization"
# False only in tests: the Python scope is off so that PostgreSQL's policies alone isolate.
TENANCY_PYTHON_SCOPE = True
# Every model of these apps is a TenantModel or listed in TENANCY_SHARED_MODELS (tenancy.E001).
TENANCY_APPS = ["crm"]
TENANCY_SHARED_MODELS = [
    "crm.Organization",
    "crm.Role",
    "crm.Cost",
    "crm.File",
    # Platform-only: a delivery is kept before its organization is known (crm.webhooks).
    "crm.InboundDelivery",
]

SILENCED_SYSTEM_CHECKS = [
    # users.username is unique per organization (legacy index), and our backend resolves it so.
    "auth.W004",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.api.permissions.RolePermission"],
    # Rates: API_THROTTLE_* below; counted in the shared cache (CACHE_URL).
    "DEFAULT_THROTTLE_CLASSES": [
        "crm.api.throttles.TokenRateThrottle",
        "crm.api.throttles.OrganizationRateThrottle",
        "crm.api.throttles.AnonymousRateThrottle",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "crm.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "wb-crm API",
    "DESCRIPTION": "Every call runs as one organization: the caller's own, or for platform staff "
    "the one named by the X-Organization-ID header.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# WhatsApp Cloud API webhook (/webhooks/whatsapp/): the verify token set in Meta's App Dashboard,
# and the App Secret that signs every delivery (X-Hub-Signature-256).
# bin/run (WBCRM_DEMO, honoured with DEBUG only) fills unset ones with the demo values below, so
# the webhook works on a fresh clone; seed_demo prints them.
DEMO = DEBUG and env.bool("WBCRM_DEMO", default=False)
DEMO_WHATSAPP_VERIFY_TOKEN = "demo-verify-token"
DEMO_WHATSAPP_APP_SECRET = "demo-app-secret"
WHATSAPP_VERIFY_TOKEN = env("WHATSAPP_VERIFY_TOKEN", default="") or (
    DEMO_WHATSAPP_VERIFY_TOKEN if DEMO else "")
WHATSAPP_APP_SECRET = env("WHATSAPP_APP_SECRET", default="") or (
    DEMO_WHATSAPP_APP_SECRET if DEMO else "")
# Embedded Signup (/whatsapp/connect/): the Meta app's id and the Embedded Signup configuration
# id (App Dashboard > WhatsApp > Embedded Signup); the secret is WHATSAPP_APP_SECRET above. A demo
# run fills the app id (the fake Graph API takes any) and offers a form to post a code by hand.
DEMO_WHATSAPP_APP_ID = "100000000000001"
WHATSAPP_APP_ID = env("WHATSAPP_APP_ID", default="") or (DEMO_WHATSAPP_APP_ID if DEMO else "")
WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID = env("WHATSAPP_EMBEDDED_SIGNUP_CONFIG_ID", default="")
WHATSAPP_EMBEDDED_SIGNUP_BY_HAND = env.bool("WHATSAPP_EMBEDDED_SIGNUP_BY_HAND", default=DEMO)
# Graph API (sending): root URL (a fake's in local runs and benchmarks), version, per-call
# timeout in seconds, retries of retryable errors and the first backoff in seconds.
# In a demo run (bin/run) without WHATSAPP_GRAPH_URL: the fake Graph API bin/run started.
WHATSAPP_GRAPH_URL = env("WHATSAPP_GRAPH_URL", default="") or (
    env("WBCRM_DEMO_GRAPH_URL", default="") if DEMO else "") or "https://graph.facebook.com"
WHATSAPP_API_VERSION = env("WHATSAPP_API_VERSION", default="v21.0")
# Origins (scheme://host[:port]) Meta's media download URLs may point at: the number's token goes
# with the download, so nowhere else. A demo run adds the fake Graph API, which serves its media.
WHATSAPP_MEDIA_ORIGINS = env.list(
    "WHATSAPP_MEDIA_ORIGINS", default=["https://lookaside.fbsbx.com"]
) + ([WHATSAPP_GRAPH_URL] if DEMO and not env("WHATSAPP_GRAPH_URL", default="") else [])
WHATSAPP_GRAPH_TIMEOUT = env.float("WHATSAPP_GRAPH_TIMEOUT", default=10.0)
WHATSAPP_GRAPH_RETRIES = env.int("WHATSAPP_GRAPH_RETRIES", default=2)
WHATSAPP_GRAPH_BACKOFF = env.float("WHATSAPP_GRAPH_BACKOFF", default=0.5)
# How long each process remembers which organization owns a receiving number (0: never).
WHATSAPP_NUMBER_CACHE_SECONDS = env.int("WHATSAPP_NUMBER_CACHE_SECONDS", default=30)
# Accepted webhook deliveries (crm.webhooks.deliveries): a worker's batch (one transaction),
# tries before a delivery is kept as failed, the first retry's delay (doubling), how often a
# web process wakes a worker at most, and processing inside the request instead (tests).
WEBHOOK_BATCH_SIZE = env.int("WEBHOOK_BATCH_SIZE", default=50)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=5)
WEBHOOK_RETRY_SECONDS = env.float("WEBHOOK_RETRY_SECONDS", default=2.0)
WEBHOOK_NUDGE_SECONDS = env.float("WEBHOOK_NUDGE_SECONDS", default=0.05)
WEBHOOK_PROCESS_INLINE = env.bool("WEBHOOK_PROCESS_INLINE", default=False)
# /metrics answers only a scraper sending `Authorization: Bearer <METRICS_TOKEN>` (404 unset);
# /readyz gives each dependency this many seconds.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
READY_TIMEOUT = env.float("READY_TIMEOUT", default=2.0)

# Razorpay (payment links): the REST root (a fake's in tests, benchmarks and bin/run: see
# bench/fake_razorpay.py), per-call timeout in seconds, retries of reads, first backoff in seconds.
# Each organization's keys are its own (PUT /api/v1/integrations/razorpay/).
RAZORPAY_API_URL = env("RAZORPAY_API_URL", default="") or (
    env("WBCRM_DEMO_RAZORPAY_URL", default="") if DEMO else "") or "https://api.razorpay.com/v1"
RAZORPAY_TIMEOUT = env.float("RAZORPAY_TIMEOUT", default=10.0)
RAZORPAY_RETRIES = env.int("RAZORPAY_RETRIES", default=2)
RAZORPAY_BACKOFF = env.float("RAZORPAY_BACKOFF", default=0.5)
# A payment link expires this many minutes after it is sent (Razorpay: at least 15).
RAZORPAY_LINK_EXPIRE_MINUTES = env.int("RAZORPAY_LINK_EXPIRE_MINUTES", default=24 * 60)
# Beat asks Razorpay about links still unpaid this long after sending, and again after expiry.
RAZORPAY_RECONCILE_AFTER_MINUTES = env.int("RAZORPAY_RECONCILE_AFTER_MINUTES", default=60)

# Zoho CRM (leads): the accounts (OAuth) and API roots, `{domain}` filled with the organization's
# data centre (zoho.in, zoho.com, ...; a fake's plain URL in tests and the demo: bin/run starts
# bench/fake_zoho.py), per-call timeout, and the push task's retries (back-off doubling from
# ZOHO_RETRY_BACKOFF seconds). Each organization's credentials are its own.
ZOHO_ACCOUNTS_URL = env("ZOHO_ACCOUNTS_URL", default="") or (
    env("WBCRM_DEMO_ZOHO_URL", default="") if DEMO else "") or "https://accounts.{domain}"
ZOHO_API_URL = env("ZOHO_API_URL", default="") or (
    env("WBCRM_DEMO_ZOHO_URL", default="") if DEMO else "") or "https://www.zohoapis.{domain}"
ZOHO_TIMEOUT = env.float("ZOHO_TIMEOUT", default=10.0)
ZOHO_PUSH_RETRIES = env.int("ZOHO_PUSH_RETRIES", default=5)
ZOHO_RETRY_BACKOFF = env.int("ZOHO_RETRY_BACKOFF", default=30)

# The agent inbox (/inbox/): its live events go over Redis pub/sub, one channel per organization.
INBOX_REDIS_URL = env("INBOX_REDIS_URL", default="redis://127.0.0.1:6379/0")
INBOX_EVENTS_PREFIX = env("INBOX_EVENTS_PREFIX", default="wbcrm:inbox")
# A stream sends a keep-alive comment after this many quiet seconds, and ends (the browser
# reconnects) after INBOX_STREAM_SECONDS, so no worker is held by one client forever.
INBOX_HEARTBEAT_SECONDS = env.float("INBOX_HEARTBEAT_SECONDS", default=15.0)
INBOX_STREAM_SECONDS = env.float("INBOX_STREAM_SECONDS", default=300.0)
# Open streams at once (each holds a server thread while open; over a cap the stream answers 429
# and the page refreshes itself until it gets one): per user (browser tabs), per organization
# (across every worker, counted in Redis), and per process, which must stay below the process's
# threads so pages always find one (gunicorn.conf.py sets it from GUNICORN_THREADS).
INBOX_STREAMS_PER_USER = env.int("INBOX_STREAMS_PER_USER", default=3)
INBOX_STREAMS_PER_ORGANIZATION = env.int("INBOX_STREAMS_PER_ORGANIZATION", default=50)
INBOX_STREAMS_PER_PROCESS = env.int("INBOX_STREAMS_PER_PROCESS", default=16)
LOGIN_URL = "/admin/login/"

# Celery on RabbitMQ (`celery -A crm worker`, `celery -A crm beat`; see README "Workers").
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, and handed to another worker when its worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Workers keep their database connections as CONN_MAX_AGE says (crm.celery), not one per task.
CELERY_DB_REUSE_MAX = 2**31
# Workers consume the default queue and webhook processing's own (crm.celery.intake_queue).
# Each queue on its own direct exchange and key: a shared key would copy each task to both.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in (CELERY_TASK_DEFAULT_QUEUE, f"{CELERY_TASK_DEFAULT_QUEUE}.intake")
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# CELERY_BROKER_URL=filesystem:// (the bin/run demo: no broker server): Kombu's filesystem
# transport, each message a file in CELERY_FILESYSTEM_FOLDER (which must exist), shared by the
# processes of one machine.
if CELERY_BROKER_URL.startswith("filesystem:"):
    _broker_folder = env("CELERY_FILESYSTEM_FOLDER", default=str(BASE_DIR / ".demo" / "broker"))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _broker_folder, "data_folder_out": _broker_folder,
        "control_folder": str(Path(_broker_folder) / "control"), "polling_interval": 0.2,
    }
CELERY_BEAT_SCHEDULE = {
    "start-scheduled-campaigns": {
        "task": "crm.campaigns.tasks.start_scheduled_campaigns",
        "schedule": env.float("CAMPAIGN_SCHEDULE_SECONDS", default=15.0),
    },
    "sweep-stalled-jobs": {
        "task": "crm.campaigns.tasks.sweep_stalled_jobs",
        "schedule": env.float("CAMPAIGN_SWEEP_SECONDS", default=60.0),
    },
    "reconcile-payment-links": {
        "task": "crm.payments.tasks.reconcile_payment_links",
        "schedule": env.float("PAYMENT_RECONCILE_SECONDS", default=300.0),
    },
    "sweep-webhook-deliveries": {
        "task": "crm.webhooks.tasks.process_deliveries",
        "schedule": env.float("WEBHOOK_SWEEP_SECONDS", default=1.0),
    },
    "fire-due-automation": {
        "task": "crm.automation.tasks.fire_due_schedules",
        "schedule": env.float("AUTOMATION_SCHEDULE_SECONDS", default=1.0),
    },
    "wake-snoozed-conversations": {
        "task": "crm.contacts.tasks.wake_snoozed_conversations",
        "schedule": env.float("SNOOZE_WAKE_SECONDS", default=60.0),
    },
    # Organization exports past their link's 24 hours: the zip deleted, the export "expired".
    "sweep-expired-exports": {
        "task": "crm.lifecycle.tasks.sweep_expired_exports",
        "schedule": env.float("EXPORT_SWEEP_SECONDS", default=900.0),
    },
}
# Redis holds what every worker shares: per-number send windows, stop flags, back-offs.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The shared cache: API throttles and sign-in lock-out counters (Redis; locmemcache:// for a
# single process). Unreachable, both fail open and log a warning.
CACHES = {"default": {**env.cache_url_config(env("CACHE_URL", default=REDIS_URL)),
                      "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="wbcrm")}}
# Requests per token (or signed-in user), per organization, and per address when signed out
# ("N/sec|min|hour|day"; empty: no limit). Over a rate: 429 with Retry-After.
API_THROTTLE_PER_TOKEN = env("API_THROTTLE_PER_TOKEN", default="600/min")
API_THROTTLE_PER_ORGANIZATION = env("API_THROTTLE_PER_ORGANIZATION", default="3000/min")
API_THROTTLE_ANONYMOUS = env("API_THROTTLE_ANONYMOUS", default="60/min")
# Sign-in lock-out (crm.accounts.signin): failures of one name from one address, and of any
# names from one address, within the window (seconds) that lock sign-in from there.
SIGNIN_MAX_FAILURES = env.int("SIGNIN_MAX_FAILURES", default=5)
SIGNIN_MAX_FAILURES_PER_ADDRESS = env.int("SIGNIN_MAX_FAILURES_PER_ADDRESS", default=50)
SIGNIN_LOCKOUT_SECONDS = env.int("SIGNIN_LOCKOUT_SECONDS", default=900)
CAMPAIGN_REDIS_PREFIX = env("CAMPAIGN_REDIS_PREFIX", default="wbcrm:campaigns")
# One machine without Redis (the bin/run demo): campaigns' send slots, stop flags and back-offs
# in this SQLite file instead (crm.campaigns.localstate), shared by that machine's processes.
CAMPAIGN_STATE_FILE = env("CAMPAIGN_STATE_FILE", default="")
# Rows a sender claims at once, and how long a claim lasts before another worker may take it over.
CAMPAIGN_CLAIM_SIZE = env.int("CAMPAIGN_CLAIM_SIZE", default=20)
CAMPAIGN_LEASE_SECONDS = env.int("CAMPAIGN_LEASE_SECONDS", default=60)
# Sends per chunk task before it queues its continuation (at the back: fair between campaigns).
CAMPAIGN_CHUNK_SIZE = env.int("CAMPAIGN_CHUNK_SIZE", default=200)
CAMPAIGN_CHUNK_SECONDS = env.float("CAMPAIGN_CHUNK_SECONDS", default=1.0)
# Chains of chunks sending from one number at once: about its rate times Meta's answer time.
CAMPAIGN_SENDERS_PER_NUMBER = env.int("CAMPAIGN_SENDERS_PER_NUMBER", default=4)
# Sends from a number are paced `limit` per this many milliseconds: a little over a second
# absorbs jitter between our send and the Graph API's clock (see crm/campaigns/ratelimit.py).
CAMPAIGN_RATE_WINDOW_MS = env.int("CAMPAIGN_RATE_WINDOW_MS", default=1060)
# Retryable errors: attempts per recipient, and the first wait (doubling on each attempt).
CAMPAIGN_MAX_ATTEMPTS = env.int("CAMPAIGN_MAX_ATTEMPTS", default=5)
CAMPAIGN_RETRY_BASE_SECONDS = env.float("CAMPAIGN_RETRY_BASE_SECONDS", default=2.0)
# Meta's pair limit: about one message to the same customer from one number every 6 seconds.
CAMPAIGN_PAIR_SECONDS = env.float("CAMPAIGN_PAIR_SECONDS", default=6.0)

# Contact imports (crm.imports): the largest file and row count accepted, files up to this size
# imported in the request (larger ones in a Celery job), and rows written per statement.
CONTACT_IMPORT_MAX_BYTES = env.int("CONTACT_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
CONTACT_IMPORT_MAX_ROWS = env.int("CONTACT_IMPORT_MAX_ROWS", default=200_000)
CONTACT_IMPORT_INLINE_BYTES = env.int("CONTACT_IMPORT_INLINE_BYTES", default=64 * 1024)
CONTACT_IMPORT_BATCH = env.int("CONTACT_IMPORT_BATCH", default=5000)
# Outgoing webhooks (crm.outgoing): per attempt a timeout (connect: at most 5 s); attempts per
# event, the first wait before a retry (doubling, with jitter, at most OUTGOING_WEBHOOKS_MAX_WAIT),
# and failed attempts in a row after which a subscription is turned off. Loopback addresses are
# refused like private ones unless allowed (tests and the bin/run demo, whose receiver is local).
OUTGOING_WEBHOOKS_TIMEOUT = env.float("OUTGOING_WEBHOOKS_TIMEOUT", default=10.0)
OUTGOING_WEBHOOKS_MAX_ATTEMPTS = env.int("OUTGOING_WEBHOOKS_MAX_ATTEMPTS", default=6)
OUTGOING_WEBHOOKS_BACKOFF = env.float("OUTGOING_WEBHOOKS_BACKOFF", default=30.0)
OUTGOING_WEBHOOKS_MAX_WAIT = env.float("OUTGOING_WEBHOOKS_MAX_WAIT", default=3600.0)
OUTGOING_WEBHOOKS_DISABLE_AFTER = env.int("OUTGOING_WEBHOOKS_DISABLE_AFTER", default=15)
OUTGOING_WEBHOOKS_ALLOW_LOOPBACK = env.bool("OUTGOING_WEBHOOKS_ALLOW_LOOPBACK", default=DEMO)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies and content-hashed names (cached for good by browsers): collectstatic
    # writes them and their manifest, which pages need once DEBUG is off.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# WhatsApp media fetched from Meta or uploaded to it are kept in the default storage, under
# whatsapp-media/<organization id>/<media id> (crm.whatsapp.media); never served as static files.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Secrets (access tokens, passwords) are masked in error pages and reports, DEBUG or not.
DEFAULT_EXCEPTION_REPORTER_FILTER = "crm.error_reports.SecretsExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # crm.whatsapp logs each Graph API call itself (and records it in whatsapp_api_logs).
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# Accounts (crm.accounts): public sign-up on or off, the site's address in e-mailed links, and
# how long each link works. E-mail goes through Django's mail framework: EMAIL_URL (such as
# smtp+tls://user:password@smtp.example.com:587) in production, the console otherwise (bin/run
# prints each e-mail in its terminal).
SIGNUP_OPEN = env.bool("SIGNUP_OPEN", default=True)
SITE_URL = env("SITE_URL", default="http://localhost:8000")
EMAIL_CONFIRM_DAYS = env.int("EMAIL_CONFIRM_DAYS", default=3)
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)
PASSWORD_RESET_HOURS = env.int("PASSWORD_RESET_HOURS", default=2)
PASSWORD_RESET_TIMEOUT = PASSWORD_RESET_HOURS * 3600
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="wb-crm <no-reply@localhost>")
EMAIL_URL = env("EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(env.email_url_config(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
