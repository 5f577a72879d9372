"""Hostile input: always a 4xx in the one error shape; the server stays up and stores nothing."""

import copy
import json
import secrets

import pytest
import requests

from conftest import ADMIN_PASSWORD, Api, LiveServer, assert_error, dump

pytestmark = pytest.mark.both_backends

JOB = {"operation": "o", "prompts": ["p"], "model": "m", "temperature": 0.5, "priority": 5,
       "requestData": {"k": "v"}, "clientReference": {"ref": "r"}}
CHANGES = {"status": "PENDING", "operation": "o2", "prompts": ["q"], "model": "m2",
           "temperature": 1.5, "priority": 6, "requestData": {"k": "w"},
           "clientReference": {"ref": "s"}, "responseData": {"r": "x"},
           "processingMetrics": {"ms": "1"}, "errorData": {"e": "x"}}
NULLABLE = {"temperature", "clientReference", "responseData", "processingMetrics", "errorData"}
# Valid bodies; {job}, {user}, {refresh} and {name} are filled in when a case runs.
BODIES = {
    "create": ("POST", "/jobs", JOB),
    "create-batch": ("POST", "/jobs/batch", {"jobs": [JOB]}),
    "update": ("PATCH", "/jobs/{job}", CHANGES),
    "update-batch": ("PATCH", "/jobs/batch", {"jobs": [{"jobId": "{job}", **CHANGES}]}),
    "delete-batch": ("DELETE", "/jobs/batch", {"jobIds": ["{job}"]}),
    "user-create": ("POST", "/api/users", {"username": "{name}", "password": "password-1",
                                            "role": "client", "permissions": ["activities.read"]}),
    "user-update": ("PATCH", "/api/users/{user}", {"password": "password-2", "role": "client",
                                                   "permissions": ["users.manage"], "disabled": True}),
    "task-update": ("PATCH", "/api/jobs/metadata-sync", {"enabled": False, "schedule": "0 3 * * *"}),
    "login": ("POST", "/api/auth/login", {"username": "admin", "password": ADMIN_PASSWORD}),
    "refresh": ("POST", "/api/auth/refresh", {"refreshToken": "{refresh}"}),
    "logout": ("POST", "/api/auth/logout", {"refreshToken": "{refresh}"}),
}
BATCH_FIELD = {"create-batch": "jobs", "update-batch": "jobs", "delete-batch": "jobIds"}
JSON = {"Content-Type": "application/json"}


def leaves(value, path=()):
    """The path to every string in a JSON value."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, (dict, list)):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            yield from leaves(item, (*path, key))


def replaced(value, path, new):
    value = copy.deepcopy(value)
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return value


class Target:
    """A private server (scheduler off, so only requests change its database), as admin."""

    def __init__(self, server):
        self.server = server
        self.admin = Api(server, "admin", ADMIN_PASSWORD)
        self.job = self.admin.post("/jobs", json=JOB).json()["jobId"]
        user = {"username": f"u-{secrets.token_hex(4)}", "password": "password-0"}
        self.user = self.admin.post("/api/users", json=user).json()["id"]

    def fill(self, text):
        refresh = Api(self.server, "admin", ADMIN_PASSWORD).tokens["refreshToken"] \
            if "{refresh}" in text else ""
        return (text.replace("{job}", self.job).replace("{user}", str(self.user))
                .replace("{refresh}", refresh).replace("{name}", f"n-{secrets.token_hex(4)}"))

    def snapshot(self):
        return dump(self.server.database)

    def rejects(self, method, path, code, **kwargs):
        """Send one request; it gets `code`, and the server lives on with nothing changed."""
        before, log_size = self.snapshot(), len(self.server.log_text())
        response = self.admin.request(method, path, **kwargs)
        body = assert_error(response, code)
        assert requests.get(self.server.base_url + "/health", timeout=30).status_code == 200
        assert self.snapshot() == before
        assert "Traceback" not in self.server.log_text()[log_size:]
        return body


def start(tmp_path_factory, **env):
    return LiveServer(tmp_path_factory.mktemp("hostile"), JOBSAPI_SCHEDULER="false", **env).start()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    server = start(tmp_path_factory)
    try:
        yield Target(server)
    finally:
        server.stop()


def send_raw(target, name, raw, code, headers=JSON):
    method, path, _ = BODIES[name]
    data = target.fill(raw).encode() if isinstance(raw, str) else raw
    return target.rejects(method, target.fill(path), code, data=data, headers=headers)


def valid_text(name):
    return json.dumps(BODIES[name][2])


NOT_JSON, TYPE, SHAPE = "not valid JSON", "must be JSON", "Invalid input type"
DEEP_LIST = "[" * 10_000 + "]" * 10_000
RAW = {
    "not-json": (lambda text: "this is not JSON", JSON, 400, NOT_JSON),
    "truncated": (lambda text: text[:-1], JSON, 400, NOT_JSON),
    "single-quotes": (lambda text: text.replace('"', "'"), JSON, 400, NOT_JSON),
    "nan": (lambda text: text.replace('"', '"n": NaN, "', 1), JSON, 400, NOT_JSON),
    "infinity": (lambda text: text.replace('"', '"n": -Infinity, "', 1), JSON, 400, NOT_JSON),
    "nested-objects": (lambda text: '{"a":' * 10_000 + "1" + "}" * 10_000, JSON, 400, NOT_JSON),
    "nested-lists": (lambda text: DEEP_LIST, JSON, 400, NOT_JSON),
    "nested-in-a-field": (lambda text: text.replace('"', f'"n": {DEEP_LIST}, "', 1),
                          JSON, 400, NOT_JSON),
    "json-array": (lambda text: f"[{text}]", JSON, 400, SHAPE),
    "json-null": (lambda text: "null", JSON, 400, SHAPE),
    "text-plain": (lambda text: text, {"Content-Type": "text/plain"}, 415, TYPE),
    "form": (lambda text: "a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}, 415, TYPE),
    "no-content-type": (lambda text: text, {}, 415, TYPE),
}


@pytest.mark.parametrize("case", RAW)
@pytest.mark.parametrize("name", BODIES)
def test_malformed_bodies(target, name, case):
    make, headers, code, message = RAW[case]
    assert message in send_raw(target, name, make(valid_text(name)), code, headers)["message"]


@pytest.mark.parametrize("name", BODIES)
@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80"],
                         ids=["ff-fe", "c3-28", "surrogate-half"])
def test_invalid_utf8_bytes(target, name, bad):
    text = target.fill(valid_text(name)).encode().replace(b'"', b'"' + bad, 1)
    assert NOT_JSON in send_raw(target, name, text, 400)["message"]


STRING_CASES = [(name, path) for name in BODIES for path in leaves(BODIES[name][2])]
IDS = [f"{name}:{'.'.join(map(str, path))}" for name, path in STRING_CASES]


@pytest.mark.parametrize("name, path", STRING_CASES, ids=IDS)
def test_a_10_mb_string_in_any_field(target, name, path):
    method, route, body = BODIES[name]
    hostile = json.loads(target.fill(json.dumps(replaced(body, path, "x" * 10_000_000))))
    errors = target.rejects(method, target.fill(route), 400, json=hostile)["errors"]
    assert path[0] in errors


@pytest.mark.parametrize("name", list(BODIES))
def test_an_unknown_field_with_a_1_mb_name_is_not_echoed_whole(target, name):
    method, route, body = BODIES[name]
    hostile = json.loads(target.fill(json.dumps(body)))
    hostile["z" * 1_000_000] = 1
    rejected = target.rejects(method, target.fill(route), 400, json=hostile)
    assert list(rejected["errors"]) == ["z" * 197 + "..."]
    assert rejected["errors"]["z" * 197 + "..."] == ["Unknown field."]
    assert len(json.dumps(rejected)) < 1000


@pytest.mark.parametrize("name, path", STRING_CASES, ids=IDS)
def test_an_escaped_lone_surrogate_in_any_field(target, name, path):
    text = target.fill(json.dumps(replaced(BODIES[name][2], path, "a\ud800b")))
    assert "\\ud800" in text
    send_raw(target, name, text, 400)


@pytest.mark.postgresql_only
@pytest.mark.parametrize("name, path", STRING_CASES, ids=IDS)
def test_the_nul_character_in_any_field(target, name, path):
    """No text column of PostgreSQL holds U+0000: refused there (400), nothing stored."""
    text = target.fill(json.dumps(replaced(BODIES[name][2], path, "a\u0000b")))
    assert "\\u0000" in text
    body = send_raw(target, name, text, 400)
    assert body["message"] == "Text in the request may not hold the NUL character (U+0000)."


@pytest.mark.postgresql_only
def test_the_nul_character_in_a_key_a_query_or_a_path(target):
    key = json.dumps({**JOB, "requestData": {"a\u0000": 1}})
    target.rejects("POST", "/jobs", 400, data=key, headers=JSON)
    target.rejects("GET", "/jobs?clientReference.k=a%00", 400)
    target.rejects("PUT", "/api/model-limits/a%00", 404, json={"maxConcurrency": 1})
    escaped = target.admin.post("/jobs", data=json.dumps({**JOB, "operation": "a\\u0000"}),
                                headers=JSON)  # a backslash, then u0000: no NUL at all
    assert escaped.status_code == 201 and escaped.json()["operation"] == "a\\u0000"


@pytest.mark.sqlite_only
def test_the_nul_character_is_kept_on_sqlite(target):
    """SQLite's text holds U+0000: a job keeps it."""
    body = {**JOB, "prompts": ["a\x00b"], "clientReference": {"k": "x\x00y"}}
    created = target.admin.post("/jobs", json=body)
    assert created.status_code == 201, created.text
    job = target.admin.get(f"/jobs/{created.json()['jobId']}").json()
    assert job["prompts"] == ["a\x00b"] and job["clientReference"] == {"k": "x\x00y"}


SENTINEL = "hostile-value"
JOB_VALUES = {
    "priority-10**30": ("priority", "1" + "0" * 30),
    "priority-minus-10**30": ("priority", "-1" + "0" * 30),
    "priority-1e30": ("priority", "1e30"),
    "temperature-1e400": ("temperature", "1e400"),
    "temperature-10**400": ("temperature", "1" + "0" * 400),
    "requestData-1e400": ("requestData", '{"n": 1e400}'),
    "clientReference-minus-1e400": ("clientReference", '{"n": [-1e400]}'),
    "requestData-10**4400": ("requestData", '{"n": 1' + "0" * 4400 + "}"),
    "requestData-960-deep": ("requestData", '{"a":' * 960 + "1" + "}" * 960),
    "requestData-lone-surrogate-key": ("requestData", '{"\\udc80": 1}'),
}


@pytest.mark.parametrize("name", ["create", "create-batch", "update", "update-batch"])
@pytest.mark.parametrize("case", JOB_VALUES)
def test_values_a_job_cannot_hold(target, name, case):
    field, raw = JOB_VALUES[case]
    body = BODIES[name][2]
    path = (BATCH_FIELD[name], 0, field) if name in BATCH_FIELD else (field,)
    text = json.dumps(replaced(body, path, SENTINEL)).replace(f'"{SENTINEL}"', raw)
    send_raw(target, name, text, 400)


def all_null(name):
    body = BODIES[name][2]
    if name in BATCH_FIELD:
        item = body[BATCH_FIELD[name]][0]
        return {BATCH_FIELD[name]: [dict.fromkeys(item) if isinstance(item, dict) else None]}
    return dict.fromkeys(body)


@pytest.mark.parametrize("name", BODIES)
def test_null_in_every_field(target, name):
    method, path, _ = BODIES[name]
    nulls = all_null(name)
    errors = target.rejects(method, target.fill(path), 400, json=nulls)["errors"]
    if name in BATCH_FIELD:
        errors, nulls = errors[BATCH_FIELD[name]]["1"], nulls[BATCH_FIELD[name]][0]
    if nulls is None:
        assert errors == ["Field may not be null."]
    else:
        assert errors == {field: ["Field may not be null."] for field in set(nulls) - NULLABLE}


REQUIRED = [("create", field) for field in JOB if field not in NULLABLE] + \
    [("update", field) for field in CHANGES if field not in NULLABLE]


@pytest.mark.parametrize("name, field", REQUIRED)
def test_null_in_one_field_that_cannot_be_null(target, name, field):
    method, path, body = BODIES[name]
    errors = target.rejects(method, target.fill(path), 400, json={**body, field: None})["errors"]
    assert errors == {field: ["Field may not be null."]}


HUGE = str(10**30)
QUERIES = {
    "/jobs": {"status": ["BOGUS", ""], "operation": ["", "x" * 101], "model": ["", "x" * 201],
              "priority": ["abc", "0", "1.5", HUGE], "clientId": ["abc", "0", "-1", HUGE],
              "limit": ["abc", "0", "501", HUGE], "after": ["xyz", "A" * 24, ""]},
    "/jobs/summary": {"status": ["BOGUS"], "operation": [""], "model": ["x" * 201],
                      "priority": ["1001", HUGE], "clientId": ["x", HUGE]},
    # A limit above the page size is clamped, however large (test_http_conventions).
    "/api/jobs/logs/all": {"limit": ["-1", "abc", "1.5"], "offset": ["-1", "x", HUGE],
                           "result": ["bogus", ""], "jobId": ["Bad_ID", ""]},
    "/api/jobs/{job_id}/logs": {"limit": ["-1", "abc", "1.5"], "offset": ["-1", "x", HUGE]},
    "/api/activities": {"limit": ["-1", "1.5"], "offset": ["x", HUGE], "action": ["", "x" * 101],
                        "userId": ["0", "abc", HUGE], "resource": [""], "resourceId": ["", "x" * 201],
                        "since": ["yesterday", "2024-13-45"], "until": ["nope", "2024-01-01T25:00"]},
}
QUERY_CASES = [(route, name, value) for route, params in QUERIES.items()
               for name, values in params.items() for value in values]


def query_path(route):
    return route.replace("{job_id}", "metadata-sync")


def test_the_query_table_covers_every_documented_query_parameter(target):
    document = target.admin.get("/openapi.json").json()
    documented = {(path, parameter["name"]) for path, item in document["paths"].items()
                  for parameter in item.get("get", {}).get("parameters", [])
                  if parameter["in"] == "query"}
    assert len(documented) >= 20
    assert documented == {(route, name) for route, params in QUERIES.items() for name in params}


@pytest.mark.parametrize("route, name, value", QUERY_CASES,
                         ids=[f"{route} {name}={value[:12]}" for route, name, value in QUERY_CASES])
def test_a_malformed_query_parameter(target, route, name, value):
    body = target.rejects("GET", query_path(route), 400, params={name: value})
    assert name in body["errors"]


@pytest.mark.parametrize("route", QUERIES)
def test_every_query_parameter_malformed_at_once(target, route):
    params = {name: values[0] for name, values in QUERIES[route].items()}
    body = target.rejects("GET", query_path(route), 400, params=params)
    assert set(body["errors"]) == set(params)


@pytest.mark.parametrize("route", ["/jobs", "/jobs/summary"])
@pytest.mark.parametrize("key", ["a b", "", "x" * 65, "a.b", "\u00e9"])
def test_a_malformed_client_reference_filter(target, route, key):
    body = target.rejects("GET", route, 400, params={f"clientReference.{key}": "v"})
    assert f"clientReference.{key}" in body["errors"]


@pytest.mark.parametrize("route", QUERIES)
@pytest.mark.parametrize("query", ["status=%FF", "model=caf%C3", "%FE%FF=1", "operation=a%ED%A0%80"])
def test_a_query_string_that_is_not_utf8(target, route, query):
    body = target.rejects("GET", f"{query_path(route)}?{query}", 400)
    assert body["message"] == "The query string is not valid UTF-8."


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    server = start(tmp_path_factory, JOBSAPI_MAX_BODY="4096")
    try:
        yield Target(server)
    finally:
        server.stop()


@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
@pytest.mark.parametrize("name", BODIES)
def test_a_body_over_the_limit_is_413(small, name, chunked):
    body = replaced(BODIES[name][2], next(leaves(BODIES[name][2])), "x" * 5000)
    data = small.fill(json.dumps(body)).encode()
    assert len(data) > 4096
    send_raw(small, name, iter([data[:100], data[100:]]) if chunked else data, 413)


@pytest.mark.parametrize("name", BODIES)
def test_the_untouched_bodies_are_accepted(target, small, name):
    # The counterpart of every case above: without the hostile part, each body is fine.
    method, path, body = BODIES[name]
    for server in (target, small):
        response = server.admin.request(method, server.fill(path), data=server.fill(json.dumps(body)),
                                        headers=JSON)
        assert response.status_code < 300, response.text
