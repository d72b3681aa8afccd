"""Pre-auth phase and hand-off: IMAPS, STARTTLS, LOGIN, AUTHENTICATE,
pipelining into the worker, ID."""

import re
import ssl

import pytest

from helpers import caps_of, plain_ir, quote, tagged_status

USER = "alice@example.org"
PW = "alice-Secret-1"


@pytest.fixture(scope="module", autouse=True)
def users(instance):
    instance.add_user(USER, PW)


def test_imaps_login_session(instance):
    m = instance.imaplib_ssl()
    try:
        typ, _ = m.login(USER, PW)
        assert typ == "OK"
        typ, data = m.capability()
        assert typ == "OK"
        caps = data[0].decode().upper().split()
        assert "IMAP4REV1" in caps or "IMAP4REV2" in caps, caps
        assert "LOGINDISABLED" not in caps
        typ, _ = m.noop()
        assert typ == "OK"
        typ, data = m.list()
        assert typ == "OK"
        assert any(d and re.search(rb'[ )]"?INBOX"?$', d, re.I) for d in data), \
            data
        typ, data = m.select("INBOX")
        assert typ == "OK", data
        assert data == [b"0"], data
        typ, _ = m.logout()
        assert typ == "BYE"
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def test_starttls_then_login(instance):
    m = instance.imaplib_plain()
    try:
        assert "STARTTLS" in m.capabilities
        typ, _ = m.starttls(ssl_context=instance.ssl_ctx)
        assert typ == "OK"
        assert isinstance(m.sock, ssl.SSLSocket)
        assert "LOGINDISABLED" not in m.capabilities
        typ, _ = m.login(USER, PW)
        assert typ == "OK"
        typ, _ = m.noop()
        assert typ == "OK"
        typ, _ = m.logout()
        assert typ == "BYE"
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def test_plain_port_before_starttls(instance):
    with instance.imap_plain() as c:
        assert c.greeting.startswith(b"* OK"), c.greeting
        untagged, tagged = c.command("a", "CAPABILITY")
        assert tagged.startswith(b"a OK"), tagged
        caps = caps_of(untagged)
        assert "LOGINDISABLED" in caps, caps
        assert "STARTTLS" in caps, caps
        assert not [x for x in caps if x.startswith("AUTH=")], caps
        # A greeting that advertises capabilities must say the same.
        gcaps = caps_of([c.greeting])
        if gcaps:
            assert "LOGINDISABLED" in gcaps and "STARTTLS" in gcaps, gcaps
            assert not [x for x in gcaps if x.startswith("AUTH=")], gcaps

        # Valid credentials, still refused: plaintext login is disabled.
        _, tagged = c.command("b", "LOGIN %s %s" % (quote(USER), quote(PW)))
        assert tagged.startswith(b"b NO"), tagged
        _, tagged = c.command("c", "AUTHENTICATE PLAIN " + plain_ir(USER, PW))
        assert tagged_status(tagged) in ("NO", "BAD"), tagged

        instance.starttls(c)
        untagged, tagged = c.command("d", "CAPABILITY")
        assert tagged.startswith(b"d OK"), tagged
        caps = caps_of(untagged)
        assert "AUTH=PLAIN" in caps, caps
        assert "LOGINDISABLED" not in caps, caps
        assert "STARTTLS" not in caps, caps
        _, tagged = c.command("e", "LOGIN %s %s" % (quote(USER), quote(PW)))
        assert tagged.startswith(b"e OK"), tagged


def _fail_text(tagged):
    """Tagged failure line without the tag."""
    return tagged.split(b" ", 1)[1]


def test_wrong_password_and_unknown_user(instance):
    answers = []
    for user, pw in ((USER, "wrong-password"),
                     ("nobody@example.org", "wrong-password"),
                     ("nobody@example.org", PW)):
        with instance.imaps() as c:
            _, tagged = c.command("a", "LOGIN %s %s" % (quote(user), quote(pw)))
            assert tagged.startswith(b"a NO [AUTHENTICATIONFAILED]"), tagged
            answers.append(_fail_text(tagged))
            # The connection stays usable for another attempt.
            _, tagged = c.command("b", "NOOP")
            assert tagged.startswith(b"b OK"), tagged
    # Unknown user and wrong password are indistinguishable.
    assert len(set(answers)) == 1, answers


def test_authenticate_wrong_password(instance):
    with instance.imaps() as c:
        _, tagged = c.command("a", "AUTHENTICATE PLAIN "
                              + plain_ir(USER, "wrong-password"))
        assert tagged.startswith(b"a NO [AUTHENTICATIONFAILED]"), tagged


def test_starttls_injection(instance):
    with instance.imap_plain() as c:
        c.send(b"a STARTTLS\r\nb CAPABILITY\r\n")
        lines = c.read_until_tagged("a")
        assert lines[-1].startswith(b"a OK"), lines
        assert not [x for x in lines if x.startswith(b"b ")], lines
        c.starttls(instance.ssl_ctx, instance.tls_name)
        c.send(b"c NOOP\r\n")
        lines = c.read_until_tagged("c")
        assert lines[-1].startswith(b"c OK"), lines
        assert not [x for x in lines if x.startswith(b"b ")], lines
        assert not [x for x in lines if x.upper().startswith(
            b"* CAPABILITY")], lines
        untagged, tagged = c.command("d", "CAPABILITY")
        assert tagged.startswith(b"d OK"), tagged
        assert not [x for x in untagged if x.startswith(b"b ")], untagged


def test_authenticate_plain_sasl_ir(instance):
    with instance.imaps() as c:
        untagged, _ = c.command("a", "CAPABILITY")
        caps = caps_of(untagged)
        assert "SASL-IR" in caps and "AUTH=PLAIN" in caps, caps
        _, tagged = c.command("b", "AUTHENTICATE PLAIN " + plain_ir(USER, PW))
        assert tagged.startswith(b"b OK"), tagged
        _, tagged = c.command("c", "NOOP")
        assert tagged.startswith(b"c OK"), tagged


def test_authenticate_plain_continuation(instance):
    with instance.imaps() as c:
        c.send("a AUTHENTICATE PLAIN\r\n")
        cont = c.readline()
        assert cont.startswith(b"+"), cont
        c.send(plain_ir(USER, PW) + "\r\n")
        lines = c.read_until_tagged("a")
        assert lines[-1].startswith(b"a OK"), lines
        _, tagged = c.command("b", "NOOP")
        assert tagged.startswith(b"b OK"), tagged


def test_authenticate_abort(instance):
    with instance.imaps() as c:
        c.send("a AUTHENTICATE PLAIN\r\n")
        cont = c.readline()
        assert cont.startswith(b"+"), cont
        c.send("*\r\n")
        lines = c.read_until_tagged("a")
        assert lines[-1].startswith(b"a BAD"), lines
        # Still pre-auth and usable.
        _, tagged = c.command("b", "CAPABILITY")
        assert tagged.startswith(b"b OK"), tagged
        _, tagged = c.command("c", "LOGIN %s %s" % (quote(USER), quote(PW)))
        assert tagged.startswith(b"c OK"), tagged


@pytest.mark.parametrize("how", ["login", "authenticate"])
def test_pipelining_after_login(instance, how):
    if how == "login":
        first = "a LOGIN %s %s\r\n" % (quote(USER), quote(PW))
    else:
        first = "a AUTHENTICATE PLAIN %s\r\n" % plain_ir(USER, PW)
    with instance.imaps() as c:
        c.send(first + "b NOOP\r\nc LOGOUT\r\n")
        lines = c.read_until_tagged("c")

        def index(pred):
            for i, x in enumerate(lines):
                if pred(x):
                    return i
            raise AssertionError("missing response in %r" % lines)

        ia = index(lambda x: x.startswith(b"a OK"))
        ib = index(lambda x: x.startswith(b"b OK"))
        ibye = index(lambda x: x.upper().startswith(b"* BYE"))
        ic = index(lambda x: x.startswith(b"c OK"))
        assert ia < ib < ibye < ic, lines
        assert not [x for x in lines if x[:2] in (b"a ", b"b ", b"c ")
                    and tagged_status(x) != "OK"], lines
        assert c.read_eof() == []


def _check_id(lines):
    ids = [x for x in lines if x.upper().startswith(b"* ID ")]
    assert len(ids) == 1, lines
    assert re.match(rb"\* ID \(.*\)$", ids[0], re.I), ids[0]


def test_id_before_and_after_login(instance):
    with instance.imap_plain() as c:
        untagged, tagged = c.command("a", 'ID ("name" "pytest")')
        assert tagged.startswith(b"a OK"), tagged
        _check_id(untagged)
    with instance.imaps() as c:
        untagged, tagged = c.command("a", "ID NIL")
        assert tagged.startswith(b"a OK"), tagged
        _check_id(untagged)
        _, tagged = c.command("b", "LOGIN %s %s" % (quote(USER), quote(PW)))
        assert tagged.startswith(b"b OK"), tagged
        untagged, tagged = c.command("c", 'ID ("name" "pytest" "version" "1")')
        assert tagged.startswith(b"c OK"), tagged
        _check_id(untagged)
