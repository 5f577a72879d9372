"""Login lockout per username and client address, with a looser ceiling per username."""

import concurrent.futures
from datetime import datetime, timedelta

import pytest
import requests
from requests.adapters import HTTPAdapter

from conftest import ADMIN_PASSWORD, LiveServer, assert_error
from jobsapi import accounts, database
from jobsapi.errors import RateLimited, Unauthorized

pytestmark = pytest.mark.both_backends

T0 = datetime(2024, 1, 15, 6, 0, 0)
PER_USER = 8


class SourceAddressAdapter(HTTPAdapter):
    """Connections made from a given loopback address (Linux accepts all of 127/8)."""

    def __init__(self, address, **kwargs):
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(address):
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    return session


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server of its own: these tests lock out `admin`."""
    live = LiveServer(tmp_path_factory.mktemp("lockout"),
                      JOBSAPI_LOGIN_MAX_FAILURES_PER_USER=str(PER_USER)).start()
    yield live
    live.stop()


def login(server, address, username, password):
    return session_from(address).post(
        server.base_url + "/api/auth/login",
        json={"username": username, "password": password}, timeout=30,
    )


def create_user(server, username, password):
    token = login(server, "127.0.0.1", "admin", ADMIN_PASSWORD).json()["accessToken"]
    response = requests.post(server.base_url + "/api/users", timeout=30,
                             headers={"Authorization": f"Bearer {token}"},
                             json={"username": username, "password": password})
    assert response.status_code == 201, response.text


def test_a_strangers_failures_do_not_lock_the_owner_out(server):
    for _ in range(5):
        assert_error(login(server, "127.0.0.2", "admin", "wrong-password"), 401)
    stranger = login(server, "127.0.0.2", "admin", ADMIN_PASSWORD)
    assert_error(stranger, 429, "Too many failed logins")
    assert 0 < int(stranger.headers["Retry-After"]) <= 900
    owner = login(server, "127.0.0.1", "admin", ADMIN_PASSWORD)
    assert owner.status_code == 200, owner.text
    # The owner's login does not forgive the stranger.
    assert_error(login(server, "127.0.0.2", "admin", ADMIN_PASSWORD), 429)


def test_failures_spread_over_addresses_reach_the_per_username_ceiling(server):
    create_user(server, "dave", "dave-password")
    for address in ("127.0.0.3", "127.0.0.4"):
        for _ in range(PER_USER // 2):
            assert_error(login(server, address, "dave", "wrong-password"), 401)
    # No address reached its own limit (5), but the username did (8): locked everywhere.
    assert_error(login(server, "127.0.0.5", "dave", "dave-password"), 429)
    assert_error(login(server, "127.0.0.1", "dave", "dave-password"), 429)


def test_guesses_sent_at_once_get_no_more_tries_than_the_limit(server):
    """Twenty wrong guesses at once from one address: five are checked (401), the rest
    refused (429), not all twenty checked because none was recorded yet."""
    create_user(server, "hurried", "the-right-password")
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda n: login(server, "127.0.0.7", "hurried", f"guess-{n}"),
                                range(20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 5 + [429] * 15, statuses


def test_the_per_address_limit_is_counted_per_address_and_username(app):
    with app.app_context(), database.current().connection_context():
        user = accounts.create_user("carol", "carol-password", now=T0)
        for second in range(5):
            with pytest.raises(Unauthorized):
                accounts.check_password("carol", "wrong", address="10.0.0.9",
                                        now=T0 + timedelta(seconds=second))
        later = T0 + timedelta(minutes=1)
        with pytest.raises(RateLimited) as locked:
            accounts.check_password("carol", "carol-password", address="10.0.0.9", now=later)
        assert locked.value.retry_after == 840
        assert accounts.check_password("carol", "carol-password", address="10.0.0.1",
                                       now=later).id == user.id


def test_the_per_username_ceiling_is_configurable(app):
    app.config["JOBSAPI_LOGIN_MAX_FAILURES_PER_USER"] = 3
    with app.app_context(), database.current().connection_context():
        accounts.create_user("carol", "carol-password", now=T0)
        for second in range(3):
            with pytest.raises(Unauthorized):
                accounts.check_password("carol", "wrong", address=f"10.0.0.{second}",
                                        now=T0 + timedelta(seconds=second))
        with pytest.raises(RateLimited) as locked:
            accounts.check_password("carol", "carol-password", address="10.0.0.200",
                                    now=T0 + timedelta(minutes=14))
        assert locked.value.retry_after == 60
