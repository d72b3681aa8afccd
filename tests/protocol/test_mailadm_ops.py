"""mailadm for operators: --json on every listing, user show with quota
use, keys, aliases and last login, who (live sessions) and kick."""

import json
import re

import helpers
from imapa import ok, users_fixture
from lmtpc import deliver

U, P = "ops-u@example.test", "ops-pw-1"
W, WP = "ops-w@example.test", "ops-pw-2"

users = users_fixture((U, P), (W, WP))


def adm(instance, *args):
    r = instance.mailadm(*args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def test_user_list_json(instance):
    lst = json.loads(adm(instance, "--json", "user", "list"))
    assert U in lst and W in lst
    text = adm(instance, "user", "list").splitlines()
    assert sorted(lst) == sorted(text)


def test_tlskey_list_json(instance):
    assert json.loads(adm(instance, "--json", "tlskey", "list")) == []


def test_user_show_quota_and_last_login(instance):
    adm(instance, "user", "alias", "add", U, "ops-alias@example.test")
    adm(instance, "user", "quota", U, "--storage", "10M", "--messages",
        "100")
    info = json.loads(adm(instance, "--json", "user", "show", U))
    assert info["account"] == U
    assert info["last login"] == "never"
    assert info["aliases"] == ["ops-alias@example.test"]
    assert info["keys"] == []
    for body in (b"hello\r\n", b"x" * 1000 + b"\r\n"):
        assert b"Delivered" in deliver(instance, U, body)
    c = instance.login(U, P)
    lines, _ = ok(c, "s", "STATUS INBOX (MESSAGES SIZE)")
    size = int(re.search(rb"SIZE (\d+)", lines[0]).group(1))
    c.close()
    info = json.loads(adm(instance, "--json", "user", "show", U))
    assert info["quota used"] == "2 messages, %d bytes" % size, info
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ imap from "
                        r"127\.0\.0\.1", info["last login"]), info
    text = adm(instance, "user", "show", U)
    assert "quota used: 2 messages, %d bytes" % size in text


def test_who_and_kick(instance):
    c1 = instance.login(W, WP)
    c2 = instance.login(W, WP)
    other = instance.login(U, P)
    who = json.loads(adm(instance, "--json", "who"))
    mine = [s for s in who if s["user"] == W]
    assert len(mine) == 2, who
    assert all(s["service"] == "imap" and s["remote"] == "127.0.0.1"
               for s in mine)
    assert len({s["session"] for s in mine}) == 2
    lines = [l.split("\t") for l in adm(instance, "who").splitlines()]
    assert sorted(l[4] for l in lines if l[0] == W) == \
        sorted(s["session"] for s in mine)
    from smtpa import login as smtp_login
    sub = smtp_login(instance, W, WP)
    who = json.loads(adm(instance, "--json", "who"))
    assert [s["service"] for s in who if s["user"] == W].count(
        "submission") == 1, who
    out = adm(instance, "kick", W)
    assert W in out
    for c in (c1, c2):
        lines = c.read_eof()
        assert b"* BYE Disconnected by an administrator" in lines, lines
    assert sub.reply() == (421, ["4.7.0 Disconnected by an administrator"])
    sub.close()
    # the other user's session is untouched
    ok(other, "n", "NOOP")
    helpers.wait_for(
        lambda: not [s for s in json.loads(adm(instance, "--json", "who"))
                     if s["user"] == W], what="who without the kicked user")
    other.close()
    assert instance.mailadm("kick", "nobody@example.test").returncode == 4
