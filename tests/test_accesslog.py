"""The access log: one combined-format line per request."""

import logging
import re
import secrets

import requests

from jobsapi.accesslog import AccessLog

LINE = re.compile(
    r'^INFO jobsapi\.access: 10\.0\.0\.7 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
    r'"GET /jobs\?status=PENDING HTTP/1\.1" 404 9 "-" "probe/1\.0" \d+\.\dms$'
)


def app(environ, start_response):
    start_response("404 NOT FOUND", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


ENVIRON = {
    "REMOTE_ADDR": "10.0.0.7", "REQUEST_METHOD": "GET", "PATH_INFO": "/jobs",
    "QUERY_STRING": "status=PENDING", "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_USER_AGENT": "probe/1.0",
}


def _served(middleware):
    statuses = []
    body = middleware(dict(ENVIRON), lambda status, headers, exc_info=None: statuses.append(status))
    return statuses, b"".join(body)


def test_a_request_is_logged_and_passed_through(caplog):
    with caplog.at_level(logging.INFO, logger="jobsapi.access"):
        assert _served(AccessLog(app)) == (["404 NOT FOUND"], b"not found")
    assert [LINE.match(f"INFO jobsapi.access: {r.getMessage()}") is not None
            for r in caplog.records] == [True]


def test_nothing_is_logged_below_info(caplog):
    with caplog.at_level(logging.WARNING, logger="jobsapi.access"):
        assert _served(AccessLog(app)) == (["404 NOT FOUND"], b"not found")
    assert caplog.records == []


def test_the_server_logs_each_request_in_the_combined_format(server):
    marker = secrets.token_hex(6)
    response = requests.get(f"{server.base_url}/jobs?probe={marker}", timeout=10,
                            headers={"User-Agent": f"probe/{marker}", "Referer": "http://x/"})
    assert response.status_code == 401
    line = next(line for line in server.log_text().splitlines() if marker in line)
    assert re.search(
        r' INFO jobsapi\.access: 127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
        rf'"GET /jobs\?probe={marker} HTTP/1\.1" 401 {response.headers["Content-Length"]} '
        rf'"http://x/" "probe/{marker}" \d+\.\dms$', line), line


def test_what_a_client_sends_cannot_break_a_line_or_forge_another(server):
    marker = secrets.token_hex(6)
    forged = '127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET /admin HTTP/1.1" 200 2'
    response = requests.get(f"{server.base_url}/jobs/{marker}%0A{forged.replace(' ', '%20')}",
                            headers={"User-Agent": f'probe/{marker} "quoted" \\ é'}, timeout=10)
    assert response.status_code == 404
    [line] = [line for line in server.log_text().splitlines() if marker in line]
    assert " INFO jobsapi.access: " in line and f"{marker}\\x0a127.0.0.1" in line
    assert f'"probe/{marker} \\x22quoted\\x22 \\x5c \\xe9"' in line
    assert not any(line.startswith(forged) for line in server.log_text().splitlines())
