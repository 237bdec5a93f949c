"""Webhook parsing cost: parse_payload (strict JSON, then crm.whatsapp.inbound's models) per body.

    python bench/parse.py [--rounds 5000]

CPU time of this process (steadier than wall time on a shared machine). Run it on two checkouts
to compare parsers; nothing touches a database.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-key")  # DEBUG off: crm.settings needs a key
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "0yQauIyV4Dg_uq25pij4OfiRUSqvL6wQihEwfbSILGI=")

import django  # noqa: E402

django.setup()

from crm.webhooks.parsing import parse_payload  # noqa: E402
from tests import whatsapp_payloads as wp  # noqa: E402

ONE = wp.delivery(wp.entry(wp.change("106540352242922", "15550001111",
                                     messages=[wp.text("919812345678", "Is my order ready?")])))
BATCH = wp.delivery(wp.entry(wp.change("106540352242922", "15550001111", messages=[
    wp.text("919812345678", "hello"), wp.image("919812345678"), wp.location("919845012345"),
    wp.order("919845012345"), wp.contacts("919900011122"), wp.button_reply("919900011122"),
    wp.reaction("919812345678")], statuses=[wp.status("wamid.x", "delivered", "919812345678")])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    args = parser.parse_args()
    for name, payload in (("1 text message", ONE), ("7 messages + 1 status", BATCH)):
        raw = wp.body(payload)
        samples = []
        for _ in range(5):
            started = time.process_time()
            for _ in range(args.rounds):
                parse_payload(raw)
            samples.append((time.process_time() - started) / args.rounds * 1e6)
        print(f"{name:<24} median of 5 runs (CPU time): "
              f"{statistics.median(samples):7.1f} us per delivery")


if __name__ == "__main__":
    main()
