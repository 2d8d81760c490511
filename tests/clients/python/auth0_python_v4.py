"""Drives auth0-python 4.x (`auth0.management.Hooks`, `auth0.authentication.GetToken`)
against a Hookhaven server over plain http (`protocol="http"`). See common.py for the env."""

import auth0
from auth0.authentication import GetToken
from auth0.exceptions import Auth0Error
from auth0.management import Hooks

from common import (
    PLACEHOLDER,
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
    prefix = env("HH_PREFIX", "hh")
    s1, s2, s3 = env("HH_SECRET_1"), env("HH_SECRET_2"), env("HH_SECRET_3")
    ok(f"auth0-python {getattr(auth0, '__version__', '?')} against http://{domain}")

    # The client's own token mechanism: JSON POST to /oauth/token over http.
    got = GetToken(domain, env("HH_CLIENT_ID"), client_secret=env("HH_CLIENT_SECRET"), protocol="http")
    token_response = got.client_credentials(env("HH_AUDIENCE"))
    check(isinstance(token_response.get("access_token"), str) and token_response["access_token"],
          "GetToken.client_credentials returned an access_token")
    check_eq(token_response.get("token_type"), "Bearer", "token_type")
    check(isinstance(token_response.get("expires_in"), int), "expires_in is an integer")
    check("id_token" not in token_response, "no id_token in the client-credentials response")

    try:
        GetToken(domain, env("HH_CLIENT_ID"), client_secret="wrong-secret", protocol="http").client_credentials(
            env("HH_AUDIENCE"))
        fail("client_credentials with a wrong secret did not raise")
    except Auth0Error as e:
        check_eq((e.status_code, e.error_code), (401, "access_denied"), "wrong client secret raises")
    try:
        Hooks(domain, "not-a-token", protocol="http").all()
        fail("a bad bearer token did not raise")
    except Auth0Error as e:
        check_eq(e.status_code, 401, "bad bearer token raises")

    # The flow uses the token the client just obtained.
    hooks = Hooks(domain, token_response["access_token"], protocol="http")

    # create
    name = f"{prefix}-py4-hook"
    hook = hooks.create({"name": name, "script": SCRIPT, "triggerId": "credentials-exchange", "enabled": True})
    hook_id = hook["id"]
    check_eq(hook["name"], name, "created hook name")
    check_eq(hook["triggerId"], "credentials-exchange", "created hook triggerId")
    check_eq(hook["enabled"], True, "created hook enabled")
    check_eq(hook["dependencies"], {}, "created hook dependencies")
    check_eq(sorted(hook.keys()), sorted(["id", "name", "script", "triggerId", "enabled", "dependencies"]),
             "created hook fields")
    other = hooks.create({"name": f"{prefix}-py4-other", "script": SCRIPT, "triggerId": "post-user-registration"})
    check_eq(other["enabled"], False, "second hook defaults to enabled=false")

    # secrets: add, get, update, delete one
    added = hooks.add_secrets(hook_id, {"API_KEY": s1, "OTHER_KEY": s2})
    check(added in ("", {}), f"add_secrets returned an empty result ({added!r})")
    check_masked(hooks.get_secrets(hook_id), ["API_KEY", "OTHER_KEY"], "get_secrets after add")
    hooks.update_secrets(hook_id, {"API_KEY": s3})
    check_masked(hooks.get_secrets(hook_id), ["API_KEY", "OTHER_KEY"], "get_secrets after update")
    hooks.delete_secrets(hook_id, ["OTHER_KEY"])
    check_masked(hooks.get_secrets(hook_id), ["API_KEY"], "get_secrets after deleting OTHER_KEY")

    # list: the default filters enabled=true; enabled=None lists every hook
    default = hooks.all()
    check(isinstance(default, list), "all() returns a bare array")
    check_eq([h["id"] for h in default], [hook_id], "all() (default enabled=true) ids")
    everything = hooks.all(enabled=None)
    check(isinstance(everything, list), "all(enabled=None) returns a bare array")
    check_eq(sorted(h["id"] for h in everything), sorted([hook_id, other["id"]]), "all(enabled=None) ids")
    envelope = hooks.all(enabled=None, include_totals=True)
    check(isinstance(envelope, dict), "all(include_totals=True) returns an object")
    check_eq(envelope.get("total"), 2, "include_totals total")
    check_eq(sorted(h["id"] for h in envelope["hooks"]), sorted([hook_id, other["id"]]), "include_totals hooks")
    paged = [hooks.all(enabled=None, include_totals=True, page=p, per_page=1) for p in range(3)]
    check_eq([p["total"] for p in paged], [2, 2, 2], "paged totals")
    check_eq([len(p["hooks"]) for p in paged], [1, 1, 0], "paged sizes (page past the end is empty)")
    check_eq([p["start"] for p in paged], [0, 1, 2], "paged start")
    check_eq(sorted(h["id"] for p in paged for h in p["hooks"]), sorted([hook_id, other["id"]]), "paged ids")
    fields = hooks.all(enabled=None, fields=["id", "name"])
    check(all(sorted(h.keys()) == ["id", "name"] for h in fields), "all(fields=[id,name]) projects fields")

    # get, update
    got_hook = hooks.get(hook_id)
    check_eq(got_hook["id"], hook_id, "get id")
    check_eq(got_hook["script"], SCRIPT, "get script")
    updated = hooks.update(hook_id, {"name": f"{prefix}-py4-renamed", "script": SCRIPT2, "enabled": False,
                                     "dependencies": {"lodash": "4.17.21"}})
    check_eq(updated["name"], f"{prefix}-py4-renamed", "updated name")
    check_eq(updated["enabled"], False, "updated enabled")
    check_eq(updated["dependencies"], {"lodash": "4.17.21"}, "updated dependencies")
    again = hooks.get(hook_id)
    check_eq((again["name"], again["script"], again["enabled"], again["triggerId"]),
             (f"{prefix}-py4-renamed", SCRIPT2, False, "credentials-exchange"), "get after update")
    same_name = hooks.update(hook_id, {"name": f"{prefix}-py4-renamed"})
    check_eq(same_name["name"], f"{prefix}-py4-renamed", "update with the unchanged name")
    check_masked(hooks.get_secrets(hook_id), ["API_KEY"], "secrets survive a hook update")

    # delete, then 404
    deleted = hooks.delete(hook_id)
    check(deleted in ("", None, {}), f"delete returned an empty result ({deleted!r})")
    for what, call in (("get", lambda: hooks.get(hook_id)), ("get_secrets", lambda: hooks.get_secrets(hook_id)),
                       ("delete", lambda: hooks.delete(hook_id))):
        try:
            call()
        except Auth0Error as e:
            check_eq((e.status_code, e.error_code), (404, "HookDoesNotExist"), f"{what} after delete raises")
        else:
            fail(f"{what} after delete did not raise")
    hooks.delete(other["id"])
    check_eq(hooks.all(enabled=None, include_totals=True)["total"], 0, "total after deleting both hooks")
    check(PLACEHOLDER == "_VALUE_NOT_SHOWN_", "placeholder spelling")


run(main)
