#!/usr/bin/env python3
"""Instructions per order command of `orderly serve`, counted by valgrind's callgrind:
a figure that does not move with a busy neighbour (docs/performance.md).

    scripts/bench/instructions.py target/release/orderly [--stories 100]

Runs the server under callgrind twice on a fresh SQLite file (synchronous=FULL), plays
the cancel story (place, pay, verify, request cancellation, approve) N and then 2N times
from one client, each POST with its own Idempotency-Key, and prints
(Ir(2N) - Ir(N)) / (5 N): what one more command costs, start-up and set-up cancelled out.
One client by default, so every command is its own commit (no group commit to share it
with); `--clients N` plays the stories from N threads at once, so that commands queue
behind the (slowed) writer and share group commits as they do under load.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
import uuid

ADMIN_TOKEN = "bench-admin-token-for-instruction-counts-0123456789"


def call(base, token, method, path, body, expected):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        if response.status != expected:
            sys.exit(f"{method} {path}: {response.status}, expected {expected}")
        return json.loads(response.read() or b"null")


def run(binary, stories, workdir, clients):
    db = os.path.join(workdir, f"orderly-{stories}.db")
    out = os.path.join(workdir, f"callgrind-{stories}.out")
    env = dict(
        os.environ,
        ORDERLY_ADMIN_TOKEN=ADMIN_TOKEN,
        ORDERLY__SERVER__RATE_LIMIT_PER_MINUTE="0",
        ORDERLY__SERVER__FAILED_SIGN_INS_PER_MINUTE="0",
        ORDERLY__POLICY__UNPAID_ORDERS_PER_BUYER_MAX="100000",
        RUST_LOG="warn",
    )
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary,
         "serve", "--db", f"sqlite://{db}", "--listen", "127.0.0.1:0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    base = None
    for line in server.stdout:
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            base = found.group(1)
            break
    if base is None:
        sys.exit("the server did not start")
    seller = call(base, ADMIN_TOKEN, "POST", "/api/v1/accounts",
                  {"role": "seller", "name": "Bench Store"}, 201)["token"]
    buyer = call(base, ADMIN_TOKEN, "POST", "/api/v1/accounts",
                 {"role": "buyer", "name": "Bench Buyer"}, 201)["token"]
    product = call(base, seller, "POST", "/api/v1/products", {
        "title": "Bench item",
        "price": {"amount": 1000, "currency": "EUR"},
        "shipping_fee": {"amount": 100, "currency": "EUR"},
        "stock": 1000000,
        "processing_days": 5,
    }, 201)["id"]

    def story(_):
        order = call(base, buyer, "POST", "/api/v1/orders", {
            "lines": [{"product_id": product, "quantity": 1}],
            "shipping_address": {"name": "Bench", "city": "Loopback", "country": "DE"},
            "payment_method": "card",
        }, 201)["id"]
        call(base, buyer, "POST", f"/api/v1/orders/{order}/pay", {"method": "card"}, 200)
        call(base, ADMIN_TOKEN, "POST", f"/api/v1/orders/{order}/verify-payment",
             {"outcome": "approved"}, 200)
        call(base, buyer, "POST", f"/api/v1/orders/{order}/cancel",
             {"reason": "no_longer_needed"}, 202)
        call(base, seller, "POST", f"/api/v1/orders/{order}/cancellation/approve", {}, 200)

    with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(story, range(stories)))
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=600)
    total = 0
    for path in glob.glob(out + "*"):
        with open(path) as profile:
            for line in profile:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total += int(line.split()[1])
                    break
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--stories", type=int, default=100)
    parser.add_argument("--clients", type=int, default=1,
                        help="stories played at once (default 1: every command commits alone)")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep the databases and callgrind profiles in DIR (for callgrind_annotate)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        workdir = args.keep or temp
        os.makedirs(workdir, exist_ok=True)
        once = run(args.binary, args.stories, workdir, args.clients)
        twice = run(args.binary, 2 * args.stories, workdir, args.clients)
    commands = 5 * args.stories
    print(f"{args.binary}: {(twice - once) / commands:,.0f} instructions per command "
          f"(Ir {once:,} for {args.stories} stories, {twice:,} for {2 * args.stories}, "
          f"{args.clients} at once)")


if __name__ == "__main__":
    main()
