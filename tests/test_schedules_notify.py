"""The scheduler's bell on PostgreSQL (LISTEN/NOTIFY): a ring reaches the other processes'
listeners and not the ringer's own, and where notifications do not arrive the bell says
so once and the loop polls."""

import logging

import pytest

import pgcluster
from conftest import wait_for
from jobsapi import postgres
from schedules.doorbell import bell_for
from schedules.notify import NotifyBell


@pytest.fixture
def database():
    db = postgres.open_database(pgcluster.cluster().create_database(), 4)
    yield db
    db.close_all()


def listening(database):
    bell = bell_for(database)
    bell.heard = []
    bell.listeners.append(lambda: bell.heard.append(1))
    bell.listen()
    assert bell.listening.wait(10)
    return bell


def test_a_ring_wakes_the_others_and_not_the_ringer(database):
    first, second = listening(database), listening(database)
    try:
        assert isinstance(first, NotifyBell) and first.shared
        first.ring()
        assert wait_for(lambda: second.heard, 5) == [1]
        assert wait_for(lambda: second._event.is_set(), 5)
        second.ring()
        assert wait_for(lambda: first.heard, 5) == [1]
        first.ring()  # after second's own ring: once this arrives, that one would have
        assert wait_for(lambda: len(second.heard) == 2, 5)
        assert first.heard == [1]  # its own rings went by
    finally:
        first.close()
        second.close()


def test_where_notifications_do_not_arrive_it_says_so_once_and_polls(database, monkeypatch,
                                                                   caplog):
    monkeypatch.setattr(NotifyBell, "_notify", staticmethod(lambda db, payload: None))
    caplog.set_level(logging.WARNING, logger="schedules")
    bell = bell_for(database)
    try:
        bell.listen()
        assert wait_for(lambda: "do not arrive" in caplog.text, 15)
        assert not bell.shared  # the loop polls for the others
        assert caplog.text.count("do not arrive") == 1
    finally:
        bell.close()
