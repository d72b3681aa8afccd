"""Per-user imap workers: sharing, separation, idle exit."""

import time

import pytest

import helpers
from helpers import wait_for

POSTERN_CONF = {"worker_idle_timeout": "1"}

U1, P1 = "bob@example.org", "bob-pw-1"
U2, P2 = "carol@example.org", "carol-pw-2"
U3, P3 = "dave@example.org", "dave-pw-3"


@pytest.fixture(scope="module", autouse=True)
def users(instance):
    for u, p in ((U1, P1), (U2, P2), (U3, P3)):
        instance.add_user(u, p)


def _noop(c, tag="n"):
    _, tagged = c.command(tag, "NOOP")
    assert tagged.startswith(tag.encode() + b" OK"), tagged


def _logout(c):
    _, tagged = c.command("z", "LOGOUT")
    assert tagged.startswith(b"z OK"), tagged
    c.read_eof()
    c.close()


def test_one_worker_per_user(instance):
    c1 = instance.login(U1, P1)
    c2 = instance.login(U1, P1)
    c3 = instance.login(U2, P2)
    try:
        for c in (c1, c2, c3):
            _noop(c)
        w1 = instance.worker_pids(U1)
        w2 = instance.worker_pids(U2)
        assert len(w1) == 1, (w1, instance.worker_pids())
        assert len(w2) == 1, (w2, instance.worker_pids())
        assert w1 != w2
        for pid in w1 | w2:
            assert helpers.proc_ppid(pid) == instance.master.pid
    finally:
        for c in (c1, c2, c3):
            _logout(c)


def test_worker_idle_exit(instance):
    c = instance.login(U3, P3)
    _noop(c)
    (pid,) = instance.worker_pids(U3)
    # An open connection keeps the worker beyond worker_idle_timeout.
    time.sleep(2.5)
    _noop(c, "m")
    assert instance.worker_pids(U3) == {pid}
    _logout(c)
    wait_for(lambda: not helpers.pid_alive(pid), timeout=15,
             what="worker %d to exit after its last connection" % pid)
    c = instance.login(U3, P3)
    try:
        _noop(c)
        new = instance.worker_pids(U3)
        assert len(new) == 1 and pid not in new, (pid, new)
    finally:
        _logout(c)
