"""Test settings: PostgreSQL (the production target) unless DATABASE_URL says otherwise."""
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wbcrm")
# Redis keys of this test process only (workers started by tests inherit them through the env).
os.environ.setdefault(
    "CAMPAIGN_REDIS_PREFIX",
    f"wbcrm-test:{os.environ.get('PYTEST_XDIST_WORKER', 'main')}:{os.getpid()}",
)

from crm.settings import *  # noqa: E402,F401,F403

# Fast hashing in tests; bcrypt stays so legacy wb-crm hashes are still checked for real.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
]

# Tests change numbers and organizations between deliveries: no per-process number cache.
WHATSAPP_NUMBER_CACHE_SECONDS = 0

# Live inbox events of test runs never reach a running server's subscribers.
INBOX_EVENTS_PREFIX = f"wbcrm-test-{os.getpid()}:inbox"
INBOX_HEARTBEAT_SECONDS = 0.2
INBOX_STREAM_SECONDS = 10.0

# Tests never reach Meta: a Graph API call no fake answers fails at once (nothing listens there).
# Real Celery workers started by a test get the test's fake Graph API through the environment.
WHATSAPP_GRAPH_URL = os.environ.get("WBCRM_TEST_GRAPH_URL", "http://127.0.0.1:9")
