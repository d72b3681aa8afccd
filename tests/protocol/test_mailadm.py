"""mailadm against a running auth daemon, and config errors."""

import os
import subprocess

import pytest

import helpers
from helpers import quote

A, PA = "frank@example.org", "frank-pw-1"
B, PB = "grace@example.org", "grace-pw-2"


def _one_error_line(r):
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("mailadm: "), r.stderr
    return lines[0]


def _login_answer(inst, user, pw):
    with inst.imaps() as c:
        _, tagged = c.command("a", "LOGIN %s %s" % (quote(user), quote(pw)))
        return tagged


def _listing(inst):
    r = inst.mailadm("user", "list")
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_add_list_duplicate(instance):
    instance.add_user(A, PA)
    instance.add_user(B, PB)
    users = _listing(instance)
    assert A in users and B in users, users
    r = instance.mailadm("user", "add", A, "--password-stdin",
                         input="other-pw\n")
    _one_error_line(r)
    assert _listing(instance).count(A) == 1
    # The original password still holds.
    assert _login_answer(instance, A, PA).startswith(b"a OK")


def test_passwd(instance):
    user, old, new = "heidi@example.org", "heidi-old-1", "heidi-new-2"
    instance.add_user(user, old)
    assert _login_answer(instance, user, old).startswith(b"a OK")
    r = instance.mailadm("user", "passwd", user, "--password-stdin",
                         input=new + "\n")
    assert r.returncode == 0, r.stderr
    assert _login_answer(instance, user, old).startswith(
        b"a NO [AUTHENTICATIONFAILED]")
    assert _login_answer(instance, user, new).startswith(b"a OK")
    r = instance.mailadm("user", "passwd", "nobody@example.org",
                         "--password-stdin", input="x-pw-123\n")
    _one_error_line(r)


def test_del(instance):
    user, pw = "ivan@example.org", "ivan-pw-1"
    instance.add_user(user, pw)
    assert _login_answer(instance, user, pw).startswith(b"a OK")
    r = instance.mailadm("user", "del", user)
    assert r.returncode == 0, r.stderr
    assert user not in _listing(instance)
    assert _login_answer(instance, user, pw).startswith(
        b"a NO [AUTHENTICATIONFAILED]")
    _one_error_line(instance.mailadm("user", "del", user))


def _bad_copy(inst, mode):
    """A copy of the config with one bad line; returns (path, line, key)."""
    with open(inst.conf) as f:
        lines = f.read().splitlines()
    if mode == "unknown":
        key = "bogus_key"
        lines.insert(3, "bogus_key = 1")
        lineno = 4
    else:
        key = "login_processes"
        lineno = next(i + 1 for i, x in enumerate(lines)
                      if x.split("=")[0].strip() == key)
        lines[lineno - 1] = "%s = 0" % key
    path = os.path.join(inst.dir, "bad-%s.conf" % mode)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, lineno, key


@pytest.mark.parametrize("mode", ["unknown", "range"])
def test_bad_config(instance, mode):
    path, lineno, key = _bad_copy(instance, mode)
    where = "%s:%d: %s" % (path, lineno, key)
    try:
        r = subprocess.run([helpers.POSTERN, "-c", path, "-F"],
                           capture_output=True, text=True, timeout=15,
                           stdin=subprocess.DEVNULL)
    finally:
        # Should the bad config have started anything, end it (by pid).
        for pid in helpers.all_pids():
            cmd = helpers.proc_cmdline(pid)
            if cmd and path in cmd and pid != os.getpid():
                os.kill(pid, 9)
    assert r.returncode != 0, r.stderr
    assert where in r.stderr, r.stderr
    r = instance.mailadm("user", "list", conf=path)
    line = _one_error_line(r)
    assert where in line, line
