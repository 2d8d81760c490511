"""Drives auth0-python 6.x (the Fern client `auth0.management.Auth0`, plus the legacy-style
`auth0.authentication.GetToken`) against a Hookhaven server over plain http, via
`Auth0(base_url="http://HOST:PORT/api/v2", token=...)`. See common.py for the env.

`ManagementClient(domain=...)` always builds https URLs, so the http run uses the raw
`Auth0` class; its token comes from `GetToken(..., protocol="http")`."""

import auth0
from auth0.authentication import GetToken
from auth0.management import Auth0
from auth0.management.core.api_error import ApiError
from auth0.management.errors import NotFoundError

from common import (
    SCRIPT,
    SCRIPT2,
    check,
    check_eq,
    check_masked,
    env,
    fail,
    ok,
    run,
)


def main():
    domain = env("HH_DOMAIN")
    base = env("HH_BASE")
    prefix = env("HH_PREFIX", "hh")
    s1, s2, s3 = env("HH_SECRET_1"), env("HH_SECRET_2"), env("HH_SECRET_3")
    ok(f"auth0-python {auth0.__version__} against {base}/api/v2")

    token_response = GetToken(domain, env("HH_CLIENT_ID"), client_secret=env("HH_CLIENT_SECRET"),
                              protocol="http").client_credentials(env("HH_AUDIENCE"))
    check(isinstance(token_response.get("access_token"), str) and token_response["access_token"],
          "GetToken.client_credentials returned an access_token")
    check(isinstance(token_response.get("expires_in"), int), "expires_in is an integer")

    client = Auth0(base_url=f"{base}/api/v2", token=token_response["access_token"], max_retries=0)
    hooks = client.hooks

    # create
    name = f"{prefix}-py6-hook"
    hook = hooks.create(name=name, script=SCRIPT, trigger_id="credentials-exchange", enabled=True)
    hook_id = hook.id
    check_eq((hook.name, hook.trigger_id, hook.enabled, hook.dependencies),
             (name, "credentials-exchange", True, {}), "created hook")
    other = hooks.create(name=f"{prefix}-py6-other", script=SCRIPT, trigger_id="post-user-registration")
    check_eq(other.enabled, False, "second hook defaults to enabled=false")

    # secrets
    hooks.secrets.create(hook_id, request={"API_KEY": s1, "OTHER_KEY": s2})
    check_masked(dict(hooks.secrets.get(hook_id)), ["API_KEY", "OTHER_KEY"], "secrets.get after create")
    hooks.secrets.update(hook_id, request={"API_KEY": s3})
    check_masked(dict(hooks.secrets.get(hook_id)), ["API_KEY", "OTHER_KEY"], "secrets.get after update")
    hooks.secrets.delete(hook_id, request=["OTHER_KEY"])
    check_masked(dict(hooks.secrets.get(hook_id)), ["API_KEY"], "secrets.get after deleting OTHER_KEY")

    # list, envelope shape: the pager always sends include_totals=true and pages until empty
    pager = hooks.list()
    check_eq(pager.response.total, 2, "list() envelope total")
    check_eq(sorted(h.id for h in pager), sorted([hook_id, other.id]), "list() ids")
    pages = list(hooks.list(per_page=1).iter_pages())
    check_eq([len(p.items) for p in pages], [1, 1], "list(per_page=1) pages (stops at the empty page)")
    check_eq([p.response.total for p in pages], [2, 2], "list(per_page=1) totals")
    check_eq(sorted(h.id for h in hooks.list(per_page=1)), sorted([hook_id, other.id]), "list(per_page=1) ids")
    enabled_only = list(hooks.list(enabled=True))
    check_eq([h.id for h in enabled_only], [hook_id], "list(enabled=True) ids")
    by_trigger = list(hooks.list(trigger_id="post-user-registration"))
    check_eq([h.id for h in by_trigger], [other.id], "list(trigger_id=post-user-registration) ids")

    # list, bare-array shape: the Fern pager cannot parse an array (see docs/compatibility.md),
    # so ask through the client's own HTTP wrapper (same base URL, auth and telemetry headers).
    try:
        hooks.list(include_totals=False)
        fail("list(include_totals=False) parsed a bare array; update docs/compatibility.md")
    except Exception as e:  # noqa: BLE001 - any parse error is the documented behaviour
        ok(f"list(include_totals=False) cannot parse the bare array ({type(e).__name__}), as documented")
    raw = client._client_wrapper.httpx_client.request("hooks", method="GET", params={"include_totals": False})
    check_eq(raw.status_code, 200, "raw GET hooks?include_totals=false status")
    body = raw.json()
    check(isinstance(body, list), "include_totals=false returns a bare array")
    check_eq(sorted(h["id"] for h in body), sorted([hook_id, other.id]), "bare array ids")

    # get, update
    got = hooks.get(hook_id)
    check_eq((got.id, got.script), (hook_id, SCRIPT), "get")
    got_fields = hooks.get(hook_id, fields="id,name")
    check_eq((got_fields.id, got_fields.name, got_fields.script), (hook_id, name, None), "get(fields=id,name)")
    updated = hooks.update(hook_id, name=f"{prefix}-py6-renamed", script=SCRIPT2, enabled=False,
                           dependencies={"lodash": "4.17.21"})
    check_eq((updated.name, updated.enabled, updated.dependencies),
             (f"{prefix}-py6-renamed", False, {"lodash": "4.17.21"}), "update result")
    again = hooks.get(hook_id)
    check_eq((again.name, again.script, again.enabled, again.trigger_id),
             (f"{prefix}-py6-renamed", SCRIPT2, False, "credentials-exchange"), "get after update")
    check_masked(dict(hooks.secrets.get(hook_id)), ["API_KEY"], "secrets survive a hook update")

    # delete, then 404
    check_eq(hooks.delete(hook_id), None, "delete result")
    # Auth0's API definition lists no 404 for DELETE /hooks/{id}, so the Fern client raises
    # the generic ApiError there (still status 404 with the same body); get and secrets.get
    # raise the typed NotFoundError.
    for what, call, typed in (("get", lambda: hooks.get(hook_id), True),
                              ("secrets.get", lambda: hooks.secrets.get(hook_id), True),
                              ("delete", lambda: hooks.delete(hook_id), False)):
        try:
            call()
        except ApiError as e:
            if typed and not isinstance(e, NotFoundError):
                fail(f"{what} after delete raised {type(e).__name__} status {e.status_code}, expected NotFoundError")
            body = e.body if isinstance(e.body, dict) else {}
            check_eq((e.status_code, body.get("errorCode"), body.get("statusCode")), (404, "HookDoesNotExist", 404),
                     f"{what} after delete raises {type(e).__name__}")
        else:
            fail(f"{what} after delete did not raise")
    hooks.delete(other.id)
    check_eq(hooks.list().response.total, 0, "total after deleting both hooks")


run(main)
