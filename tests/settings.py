"""Test settings: PostgreSQL (the production target) unless DATABASE_URL says otherwise."""
import os
import uuid

from cryptography.fernet import Fernet

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wbcrm")
# Tests run with DEBUG off, as production does, so they need a key of their own (crm.settings
# refuses the built-in one); servers and commands they start inherit it.
os.environ.setdefault("SECRET_KEY", "tests-only-" + uuid.uuid4().hex)
# Integration secrets are encrypted with it (crm.settings refuses to start without one when DEBUG
# is off); servers and commands the tests start inherit it.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())
# One id per test run, set by the controller and inherited by its workers (and by the servers and
# Celery workers they start): two runs on one cluster, Redis or broker never share a name.
RUN = os.environ.setdefault("WBCRM_TEST_RUN", uuid.uuid4().hex[:8])
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
# Redis keys of this test worker only. Derived, not set by default: the controller's value would
# be inherited by both workers, and one's teardown would delete the other's keys.
os.environ["CAMPAIGN_REDIS_PREFIX"] = f"wbcrm-test:{RUN}:{WORKER}"

from crm.settings import *  # noqa: E402,F401,F403

# Test databases of this run only (pytest-django adds the worker's suffix, `_gw0`).
DATABASES["default"]["TEST"] = {"NAME": f"test_wbcrm_{RUN}"}  # noqa: F405

# Pages render without a collectstatic run (the manifest storage needs its manifest);
# tests/test_production.py runs collectstatic and the production storage under gunicorn.
STORAGES = {**STORAGES, "staticfiles": {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Nothing is collected here: the live server finds static files through the finders.
STATIC_ROOT = None

# Fast hashing in tests; bcrypt stays so legacy wb-crm hashes are still checked for real.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
]

# The shared cache of this worker; tests/conftest.py gives each test a prefix of its own, so no
# test's throttle or lock-out counters reach another's. Rates high enough for the suite's own
# bursts; tests of throttling set their own.
CACHES = {"default": {**CACHES["default"],  # noqa: F405
                      "KEY_PREFIX": f"wbcrm-test:{RUN}:{WORKER}"}}
API_THROTTLE_PER_TOKEN = API_THROTTLE_PER_ORGANIZATION = API_THROTTLE_ANONYMOUS = "100000/min"

# Tests change numbers and organizations between deliveries: no per-process number cache.
WHATSAPP_NUMBER_CACHE_SECONDS = 0
# Accepted deliveries are processed inside the request, so a test reads what a POST stored
# (tests/test_webhook_intake.py runs real workers with this off).
WEBHOOK_PROCESS_INLINE = True
WEBHOOK_RETRY_SECONDS = 0.0

# Live inbox events of test runs never reach a running server's subscribers.
INBOX_EVENTS_PREFIX = f"wbcrm-test:{RUN}:{WORKER}:inbox"
INBOX_HEARTBEAT_SECONDS = 0.2
INBOX_STREAM_SECONDS = 10.0

# Tests never reach Meta: a Graph API call no fake answers fails at once (nothing listens there).
# Real Celery workers started by a test get the test's fake Graph API through the environment.
WHATSAPP_GRAPH_URL = os.environ.get("WBCRM_TEST_GRAPH_URL", "http://127.0.0.1:9")
# The fakes serve media downloads from their own origin.
WHATSAPP_MEDIA_ORIGINS = [WHATSAPP_GRAPH_URL]

# Nor Razorpay: tests use the fake (bench/fake_razorpay.py) through the `fake_razorpay` fixture.
RAZORPAY_API_URL = os.environ.get("WBCRM_TEST_RAZORPAY_URL", "http://127.0.0.1:9/v1")
RAZORPAY_BACKOFF = 0

# Tests never reach Zoho: the fake answers (crm.zoho.client.use_transport), or nothing listens.
ZOHO_ACCOUNTS_URL = "http://127.0.0.1:9/accounts"
ZOHO_API_URL = "http://127.0.0.1:9/api"
