"""gunicorn's settings, read by `gunicorn crm.wsgi:application` from the project folder.

Each open inbox event stream (/inbox/events/) holds a thread of its worker for up to
INBOX_STREAM_SECONDS. Threaded workers (gthread), and at most half of each worker's threads for
streams (INBOX_STREAMS_PER_PROCESS, over it a stream answers 429 and the page polls), keep pages,
the API and the webhook answered however many streams clients open. Command-line options win
(`--threads 64`, `-w 4`, `-b 0.0.0.0:8000`); the stream cap follows the threads in effect.
"""
import os
from typing import Any

worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "32"))


def post_fork(server: Any, worker: Any) -> None:
    """Before the worker loads Django: streams take at most half of its threads (none with one
    thread, where the inbox polls), unless INBOX_STREAMS_PER_PROCESS says otherwise."""
    os.environ.setdefault("INBOX_STREAMS_PER_PROCESS", str(server.cfg.threads // 2))
