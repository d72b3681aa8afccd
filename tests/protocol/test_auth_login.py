"""AUTHENTICATE LOGIN (draft-murchison-sasl-login) for older clients and
Outlook: offered and accepted under TLS only, run by the auth daemon with
PLAIN's password check, with and without the user name as initial
response; through imaplib, curl, gsasl and cyrus imtest. The password is
never logged."""

import base64
import os
import shutil
import subprocess

import imaplib
import pytest

from helpers import caps_of

U, PW = "login-mech@example.org", "login-mech-pw-1"
IMTEST = shutil.which("imtest") or (
    "/usr/lib/cyrus/bin/imtest"
    if os.access("/usr/lib/cyrus/bin/imtest", os.X_OK) else None)


def tool(name):
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("%s is needed (dev.sh TEST_PKGS)" % name)
        pytest.skip("%s not installed" % name)
    return path


@pytest.fixture(scope="module")
def user(instance):
    instance.add_user(U, PW)
    return instance


def b64(s):
    return base64.b64encode(s.encode()).decode()


def test_advertised_under_tls_only(user):
    with user.imaps() as c:
        assert "AUTH=LOGIN" in caps_of([c.greeting])
    with user.imap_plain() as c:
        assert "AUTH=LOGIN" not in caps_of([c.greeting])
        _, tagged = c.command("a", "AUTHENTICATE LOGIN")
        assert tagged.startswith(b"a NO [PRIVACYREQUIRED]"), tagged


def test_imaplib_authenticate(user):
    seen = []

    def answer(challenge):
        seen.append(challenge)
        return {b"Username:": U, b"Password:": PW}[challenge]

    m = user.imaplib_ssl()
    typ, _ = m.authenticate("LOGIN", answer)
    assert typ == "OK"
    assert seen == [b"Username:", b"Password:"]
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    m = user.imaplib_ssl()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        m.authenticate("LOGIN", lambda ch: {b"Username:": U,
                                            b"Password:": "nope"}[ch])
    m.logout()
    assert PW not in user.log and "nope" not in user.log
    assert "mech=LOGIN service=imap result=fail reason=wrong-password " \
        "name=" + U in user.log


def test_initial_response_and_bad_input(user):
    with user.imaps() as c:
        # the name as SASL-IR: straight to "Password:"
        c.send("a AUTHENTICATE LOGIN %s\r\n" % b64(U))
        assert c.readline() == b"+ " + b64("Password:").encode()
        c.send(b64(PW) + "\r\n")
        tagged = c.read_until_tagged("a")[-1]
        assert tagged.startswith(b"a OK"), tagged
    with user.imaps() as c:
        c.send("a AUTHENTICATE LOGIN\r\n")
        assert c.readline() == b"+ " + b64("Username:").encode()
        c.send("=\r\n")  # an empty name
        tagged = c.read_until_tagged("a")[-1]
        assert tagged.startswith(b"a BAD"), tagged
    with user.imaps() as c:
        c.send("a AUTHENTICATE LOGIN %s\r\n" % b64(U))
        assert c.readline().startswith(b"+ ")
        c.send("*\r\n")  # the client gives up
        tagged = c.read_until_tagged("a")[-1]
        assert tagged.startswith(b"a BAD"), tagged
        _, tagged = c.command("n", "NOOP")
        assert tagged.startswith(b"n OK"), tagged


def test_curl(user):
    curl = tool("curl")
    url = "imaps://%s:%d/" % (user.tls_name, user.imaps_port)
    r = subprocess.run(
        [curl, "-sv", "--login-options", "AUTH=LOGIN", "-u",
         "%s:%s" % (U, PW), "--cacert", user.cert_path, "--resolve",
         "%s:%d:%s" % (user.tls_name, user.imaps_port, user.host), url],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "AUTHENTICATE LOGIN" in r.stderr, r.stderr
    assert "INBOX" in r.stdout, r.stdout


def test_gsasl(user):
    gsasl = tool("gsasl")
    r = subprocess.run(
        [gsasl, "--imap", "--connect", "%s:%d" % (user.host, user.imap_port),
         "--starttls", "--x509-ca-file=", "-a", U, "-p", PW, "--mechanism",
         "LOGIN", "--verbose"], capture_output=True, text=True, timeout=30,
        stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, (out, user.log_tail())
    assert "AUTHENTICATE LOGIN" in out, out


def test_imtest(user):
    if IMTEST is None:
        tool("imtest")
    r = subprocess.run([IMTEST, "-s", "-p", str(user.imaps_port), "-a", U,
                        "-w", PW, "-m", "LOGIN", user.host],
                       capture_output=True, text=True, timeout=30,
                       input="x LOGOUT\r\n")
    out = r.stdout + r.stderr
    assert "Authenticated." in out, (out, user.log_tail())
