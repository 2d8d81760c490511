"""Shared helpers for the auth0-python client scripts (stdlib only).

Connection info comes from the environment (set by crates/cli/tests/real_clients.rs):

  HH_DOMAIN         127.0.0.1:PORT
  HH_BASE           http://127.0.0.1:PORT (or https://...)
  HH_TOKEN          an admin Management API token
  HH_CLIENT_ID      admin client id      (for the client's own token mechanism)
  HH_CLIENT_SECRET  admin client secret
  HH_AUDIENCE       https://127.0.0.1:PORT/api/v2/
  HH_SECRET_1..3    secret values to plant; they must never be printed or echoed back
  HH_PREFIX         prefix for hook names (default "hh")

Each step prints "ok: ..." and the first mismatch exits 1 with "FAIL: ...".
Secret values are never printed.
"""

import os
import sys
import traceback

PLACEHOLDER = "_VALUE_NOT_SHOWN_"
SCRIPT = "module.exports = function (client, scope, audience, context, cb) { cb(null, {}); };"
SCRIPT2 = "module.exports = function (client, scope, audience, context, cb) { cb(null, { scope: ['x'] }); };"


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None or value == "":
        fail(f"environment variable {name} is not set")
    return value


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def ok(message):
    print(f"ok: {message}", flush=True)


def check(condition, message):
    if not condition:
        fail(message)
    ok(message)


def check_eq(actual, expected, what):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")
    ok(f"{what} == {expected!r}")


def check_masked(secrets, names, what):
    """`secrets` must be exactly {name: PLACEHOLDER for name in names}."""
    if not isinstance(secrets, dict):
        fail(f"{what}: expected an object, got {type(secrets).__name__}")
    if sorted(secrets.keys()) != sorted(names):
        fail(f"{what}: expected keys {sorted(names)}, got {sorted(secrets.keys())}")
    for key, value in secrets.items():
        if value != PLACEHOLDER:
            # Never print the value: it might be the real secret.
            fail(f"{what}: value of {key} is not exactly {PLACEHOLDER!r} (length {len(str(value))})")
    ok(f"{what}: keys {sorted(names)}, every value is {PLACEHOLDER}")


def run(main):
    try:
        main()
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - any client error is a test failure
        # The traceback can include a response body, never a request body we sent.
        print("FAIL: unexpected exception", flush=True)
        traceback.print_exc()
        sys.exit(1)
    print("PASS", flush=True)
