"""Helpers for the mailbox/session tests (test_imap_select, _mailbox,
_append, _copy, _sessions, _crash, _scale): raw command helpers, the
store-poke tool (a stand-in for a delivering process) and /proc
measurements."""

import os
import re
import subprocess
import time

import pytest

import helpers

STORE_POKE = os.path.join(helpers.BUILD, "imap", "store-poke")


def users_fixture(*pairs):
    """A module-scoped autouse fixture adding the (user, password) pairs;
    a test module binds it to a name: users = users_fixture((U, P))."""
    @pytest.fixture(scope="module", autouse=True)
    def users(instance):
        for u, p in pairs:
            instance.add_user(u, p)
    return users


def ok(c, tag, text):
    """Runs a command that must succeed; returns (untagged lines, tagged)."""
    lines, tagged = c.command(tag, text)
    assert tagged.startswith(tag.encode() + b" OK"), (text, lines, tagged)
    return lines, tagged


def no(c, tag, text, code=None):
    """Runs a command that must fail with NO [code]; returns the lines."""
    lines, tagged = c.command(tag, text)
    assert tagged.startswith(tag.encode() + b" NO"), (text, lines, tagged)
    if code is not None:
        assert tagged.startswith(b"%s NO [%s" % (tag.encode(),
                                                 code.encode())), tagged
    return lines, tagged


def bad(c, tag, text):
    lines, tagged = c.command(tag, text)
    assert tagged.startswith(tag.encode() + b" BAD"), (text, lines, tagged)
    return lines, tagged


def code_of(line, name):
    """The value of response code [NAME value] in line (str), or None."""
    m = re.search(rb"\[" + name.encode() + rb"(?: ([^\]]*))?\]", line)
    if m is None:
        return None
    return (m.group(1) or b"").decode()


def append(c, mailbox, data, flags="", date=None, tag="ap", sync=False):
    """APPEND with a literal sent byte for byte; returns (uidvalidity,
    uid) from APPENDUID."""
    opt = ""
    if flags:
        opt += " (%s)" % flags
    if date:
        opt += ' "%s"' % date
    plus = b"" if sync else b"+"
    c.send(b"%s APPEND %s%s {%d%s}\r\n" % (tag.encode(), mailbox.encode(),
                                          opt.encode(), len(data), plus))
    if sync:
        line = c.readline()
        assert line.startswith(b"+"), line
    c.send(data + b"\r\n")
    lines = c.read_until_tagged(tag)
    assert lines[-1].startswith(tag.encode() + b" OK"), lines
    v = code_of(lines[-1], "APPENDUID").split()
    return int(v[0]), int(v[1])


def message(n=1, size=None, subject=None):
    body = b"Body of message %d.\r\n" % n
    if size is not None and size > len(body):
        line = b"x" * 76 + b"\r\n"
        body += line * ((size - len(body)) // len(line))
    return (b"From: Sender <sender@example.org>\r\n"
            b"To: User <user@example.org>\r\n"
            b"Subject: " + (subject or b"message %d" % n) + b"\r\n"
            b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
            b"\r\n" + body)


def exists(lines):
    """The last "* n EXISTS" value in lines, or None."""
    v = None
    for l in lines:
        m = re.match(rb"\* (\d+) EXISTS$", l)
        if m:
            v = int(m.group(1))
    return v


def expunges(lines):
    return [int(m.group(1)) for m in
            (re.match(rb"\* (\d+) EXPUNGE$", l) for l in lines) if m]


def fetch_flags(lines):
    """{seq: (uid, flags bytes, modseq or None)} of untagged FETCH lines
    that carry FLAGS."""
    out = {}
    for l in lines:
        m = re.match(rb"\* (\d+) FETCH \((.*)\)$", l)
        if not m or b"FLAGS" not in l:
            continue
        uid = re.search(rb"UID (\d+)", l)
        fl = re.search(rb"FLAGS \(([^)]*)\)", l)
        ms = re.search(rb"MODSEQ \((\d+)\)", l)
        out[int(m.group(1))] = (int(uid.group(1)) if uid else None,
                                fl.group(1),
                                int(ms.group(1)) if ms else None)
    return out


def home_of(instance, user):
    return os.path.join(instance.settings["mail_dir"], user)


def poke(instance, user, *args):
    """Runs store-poke on user's home as the mail user would; returns its
    stdout."""
    cmd = [STORE_POKE, home_of(instance, user)] + [str(a) for a in args]
    pre = None
    if os.geteuid() == 0:
        import pwd
        pw = pwd.getpwnam(instance.settings.get("mail_user", "vmail"))

        def pre():
            os.setgid(pw.pw_gid)
            os.setgroups([])
            os.setuid(pw.pw_uid)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                       preexec_fn=pre)
    assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r.stdout


def worker_pid(instance, user):
    """The pid of user's one imap worker."""
    (pid,) = instance.worker_pids(user)
    return pid


def rss_kb(pid):
    """VmRSS and VmHWM (peak) of pid in kB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out["VmRSS"], out["VmHWM"]


def read_untagged(c, pred, timeout=5.0):
    """Reads lines until pred(line) is true (returned with all lines read)
    or the timeout passes (AssertionError)."""
    got = []
    deadline = time.monotonic() + timeout
    old = c.sock.gettimeout()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching line within %.1fs: %r"
                                     % (timeout, got))
            c.sock.settimeout(left)
            try:
                line = c.readline()
            except (TimeoutError, OSError) as e:
                if "timed out" in str(e):
                    raise AssertionError("no matching line within %.1fs: %r"
                                         % (timeout, got))
                raise
            got.append(line)
            if pred(line):
                return got
    finally:
        c.sock.settimeout(old)
