"""TLS client certificates: PREAUTH on implicit TLS, SASL EXTERNAL, password
logins on a certificate connection, STARTTLS, unknown and removed keys,
resumed sessions, and the key types of issue 4 (mailadm tlskey gen's
Ed25519, the `tlskey howto` openssl recipe's P-256, an expired P-256, an
RSA-2048; RSA-1024 is refused)."""

import base64
import os
import shlex
import ssl
import subprocess

import pytest

from helpers import caps_of, quote

A, PA = "cert-a@example.org", "cert-a-pw-1"
A2 = "alias-a@example.net"
B, PB = "cert-b@example.org", "cert-b-pw-2"


@pytest.fixture(scope="module")
def accounts(instance):
    instance.add_user(A, PA)
    instance.add_user(B, PB)
    r = instance.mailadm("user", "alias", "add", A, A2)
    assert r.returncode == 0, r.stderr
    return instance


def howto(inst, certdir, name):
    """Runs the openssl commands `tlskey howto NAME` prints (the .p12 ones
    with a password given, as a script would)."""
    r = inst.mailadm("tlskey", "howto", name)
    assert r.returncode == 0, r.stderr
    cmds = [l for l in r.stdout.splitlines() if l.startswith("openssl ")]
    assert len(cmds) == 4, r.stdout
    assert any("-legacy" in c for c in cmds)
    for c in cmds:
        argv = shlex.split(c)
        if "pkcs12" in argv:
            argv += ["-passout", "pass:p12-test"]
        p = subprocess.run(argv, cwd=certdir, capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0 and "-legacy" in argv:
            continue  # the legacy provider may be missing: not ours
        assert p.returncode == 0, (c, p.stderr)
    return (os.path.join(certdir, name + ".crt"),
            os.path.join(certdir, name + ".key"))


def add_key(inst, addr, crt, *opts):
    with open(crt) as f:
        r = inst.mailadm("tlskey", "add", addr, *opts, input=f.read())
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def rm_key(inst, fp):
    r = inst.mailadm("tlskey", "rm", fp)
    assert r.returncode == 0, r.stderr


def ext(authzid):
    return base64.b64encode(authzid.encode()).decode() if authzid else "="


def assert_preauth(c, user):
    assert c.greeting.startswith(b"* PREAUTH [CAPABILITY "), c.greeting
    assert c.greeting.endswith(b"Logged in as " + user.encode()), c.greeting
    # authenticated state: a command of that state works
    _, tagged = c.command("n1", "NOOP")
    assert tagged.startswith(b"n1 OK"), tagged
    lines, tagged = c.command("n2", "LOGIN x y")
    assert not tagged.startswith(b"n2 OK"), tagged


def assert_normal(c):
    assert c.greeting.startswith(b"* OK [CAPABILITY "), c.greeting


def test_gen_ed25519_preauth(accounts, certdir):
    crt, key, fp = accounts.tlskey_gen(certdir, "phone")
    assert add_key(accounts, A, crt, "--name", "phone") == fp
    with accounts.imaps(ctx=accounts.client_ctx(crt, key)) as c:
        assert_preauth(c, A)
    assert "key=" + fp not in accounts.log  # registered: not "unregistered"
    r = accounts.mailadm("tlskey", "show", fp)
    assert r.returncode == 0, r.stderr
    assert "account: %s" % A in r.stdout
    assert "name: phone" in r.stdout and "key: Ed25519" in r.stdout
    assert "not-after: 9999-12-31" in r.stdout
    assert "-----BEGIN CERTIFICATE-----" in r.stdout
    rm_key(accounts, fp)


def test_preauth_as_alias_login(accounts, certdir):
    """A key whose login address is an alias: the session is the account."""
    crt, key, fp = accounts.tlskey_gen(certdir, "tablet")
    add_key(accounts, A2, crt)
    with accounts.imaps(ctx=accounts.client_ctx(crt, key)) as c:
        assert_preauth(c, A)
    r = accounts.mailadm("tlskey", "list", A2)
    assert r.returncode == 0 and r.stdout.startswith(fp + "\t" + A + "\t" +
                                                     A2 + "\t"), r.stdout
    rm_key(accounts, fp)


def test_no_preauth_external(accounts, certdir):
    crt, key, fp = accounts.tlskey_gen(certdir, "laptop")
    add_key(accounts, A, crt, "--no-imap-preauth")
    ctx = accounts.client_ctx(crt, key)
    with accounts.imaps(ctx=ctx) as c:
        assert_normal(c)
        assert "AUTH=EXTERNAL" in caps_of([c.greeting])
        # empty authzid = the key's login address
        _, tagged = c.command("a", "AUTHENTICATE EXTERNAL =")
        assert tagged.startswith(b"a OK"), tagged
        _, tagged = c.command("n", "NOOP")
        assert tagged.startswith(b"n OK"), tagged
    with accounts.imaps(ctx=ctx) as c:
        # an alias of the same account
        _, tagged = c.command("a", "AUTHENTICATE EXTERNAL " + ext(A2))
        assert tagged.startswith(b"a OK"), tagged
    with accounts.imaps(ctx=ctx) as c:
        # without SASL-IR: the empty challenge, then the authzid
        c.send("a AUTHENTICATE EXTERNAL\r\n")
        assert c.readline().startswith(b"+")
        c.send(ext(A) + "\r\n")
        tagged = c.read_until_tagged("a")[-1]
        assert tagged.startswith(b"a OK"), tagged
    with accounts.imaps(ctx=ctx) as c:
        # another account's address
        _, tagged = c.command("a", "AUTHENTICATE EXTERNAL " + ext(B))
        assert tagged.startswith(b"a NO [AUTHENTICATIONFAILED]"), tagged
    rm_key(accounts, fp)


def test_password_login_on_cert_connection(accounts, certdir):
    crt, key, fp = accounts.tlskey_gen(certdir, "desk")
    add_key(accounts, A, crt, "--no-imap-preauth")
    ctx = accounts.client_ctx(crt, key)
    with accounts.imaps(ctx=ctx) as c:
        # the certificate's account, even under another of its addresses
        _, tagged = c.command("l", "LOGIN %s %s" % (quote(A2), quote(PA)))
        assert tagged.startswith(b"l OK"), tagged
    with accounts.imaps(ctx=ctx) as c:
        # right password, wrong account for this certificate
        _, tagged = c.command("l", "LOGIN %s %s" % (quote(B), quote(PB)))
        assert tagged.startswith(b"l NO [AUTHENTICATIONFAILED]"), tagged
    assert "client-key-of-another-account" in accounts.log
    rm_key(accounts, fp)


def test_starttls_external(accounts, certdir):
    crt, key, fp = accounts.tlskey_gen(certdir, "starttls")
    add_key(accounts, A, crt)  # preauth allowed, but not after STARTTLS
    ctx = accounts.client_ctx(crt, key)
    with accounts.starttls(accounts.imap_plain(), ctx) as c:
        lines, tagged = c.command("c", "CAPABILITY")
        assert tagged.startswith(b"c OK"), tagged
        assert "AUTH=EXTERNAL" in caps_of(lines), lines
        _, tagged = c.command("a", "AUTHENTICATE EXTERNAL =")
        assert tagged.startswith(b"a OK"), tagged
    rm_key(accounts, fp)


def test_unknown_key(accounts, certdir):
    crt, key, fp = accounts.tlskey_gen(certdir, "stranger")
    ctx = accounts.client_ctx(crt, key)
    with accounts.imaps(ctx=ctx) as c:
        assert_normal(c)
        assert "AUTH=EXTERNAL" not in caps_of([c.greeting])
        _, tagged = c.command("a", "AUTHENTICATE EXTERNAL =")
        assert tagged.startswith(b"a NO [AUTHENTICATIONFAILED]"), tagged
        _, tagged = c.command("l", "LOGIN %s %s" % (quote(B), quote(PB)))
        assert tagged.startswith(b"l OK"), tagged
    assert "client certificate unregistered key=" + fp in accounts.log
    assert 'subject="CN=stranger"' in accounts.log
    with accounts.starttls(accounts.imap_plain(), ctx) as c:
        lines, tagged = c.command("c", "CAPABILITY")
        assert "AUTH=EXTERNAL" not in caps_of(lines), lines
        _, tagged = c.command("l", "LOGIN %s %s" % (quote(A), quote(PA)))
        assert tagged.startswith(b"l OK"), tagged


def test_removed_key_and_resumption(accounts, certdir):
    crt, key, fp = accounts.tlskey_gen(certdir, "resume")
    add_key(accounts, A, crt)
    ctx = accounts.client_ctx(crt, key)
    with accounts.imaps(ctx=ctx) as c:
        assert_preauth(c, A)
        session = c.sock.session
    # the same session again while the key is registered
    with accounts.imaps(ctx=ctx, session=session) as c:
        assert c.sock.session_reused, "TLS session was not resumed"
        assert_preauth(c, A)
        session = c.sock.session
    rm_key(accounts, fp)
    # a resumed session carries the old certificate: checked again
    with accounts.imaps(ctx=ctx, session=session) as c:
        assert c.sock.session_reused, "TLS session was not resumed"
        assert_normal(c)
        assert "AUTH=EXTERNAL" not in caps_of([c.greeting])
    # and a full handshake with the removed key
    with accounts.imaps(ctx=ctx) as c:
        assert_normal(c)


def test_resumption_tls12(accounts, certdir):
    crt, key, fp = accounts.tlskey_gen(certdir, "resume12")
    add_key(accounts, A, crt)
    ctx = accounts.client_ctx(crt, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with accounts.imaps(ctx=ctx) as c:
        assert_preauth(c, A)
        session = c.sock.session
    rm_key(accounts, fp)
    with accounts.imaps(ctx=ctx, session=session) as c:
        assert c.sock.session_reused, "TLS 1.2 session was not resumed"
        assert_normal(c)


def test_howto_recipe_p256(accounts, certdir):
    crt, key = howto(accounts, certdir, "mua")
    fp = add_key(accounts, B, crt, "--name", "mua")
    assert os.path.exists(os.path.join(certdir, "mua.p12"))
    with accounts.imaps(ctx=accounts.client_ctx(crt, key)) as c:
        assert_preauth(c, B)
    r = accounts.mailadm("tlskey", "list")
    assert any(l.startswith(fp + "\t") and "\tECDSA-P256\t" in l
               for l in r.stdout.splitlines()), r.stdout
    rm_key(accounts, fp)


def test_expired_p256(accounts, certdir):
    """Dates are ignored: a certificate expired years ago still works."""
    _, key = howto(accounts, certdir, "old")
    tmpl = os.path.join(certdir, "old.tmpl")
    with open(tmpl, "w") as f:
        f.write('cn = "old"\nactivation_date = "2001-01-01 00:00:00"\n'
                'expiration_date = "2002-01-01 00:00:00"\ntls_www_client\n')
    crt = os.path.join(certdir, "old-expired.crt")
    p = subprocess.run(["certtool", "--generate-self-signed",
                        "--load-privkey", key, "--template", tmpl,
                        "--outfile", crt], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    fp = add_key(accounts, A, crt)
    with accounts.imaps(ctx=accounts.client_ctx(crt, key)) as c:
        assert_preauth(c, A)
    r = accounts.mailadm("tlskey", "show", fp)
    assert "not-after: 2002-01-01" in r.stdout, r.stdout
    rm_key(accounts, fp)


def _openssl_rsa(certdir, name, bits):
    crt = os.path.join(certdir, name + ".crt")
    key = os.path.join(certdir, name + ".key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey",
                        "rsa:%d" % bits, "-nodes", "-keyout", key, "-out",
                        crt, "-subj", "/CN=" + name, "-days", "30"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return crt, key


def test_rsa2048_and_weak_rsa1024(accounts, certdir):
    crt, key = _openssl_rsa(certdir, "rsa2048", 2048)
    fp = add_key(accounts, A, crt)
    with accounts.imaps(ctx=accounts.client_ctx(crt, key)) as c:
        assert_preauth(c, A)
    rm_key(accounts, fp)
    crt, _ = _openssl_rsa(certdir, "rsa1024", 1024)
    with open(crt) as f:
        r = accounts.mailadm("tlskey", "add", A, input=f.read())
    assert r.returncode == 5, (r.returncode, r.stderr)
    assert "weak or unsupported key RSA-1024" in r.stderr, r.stderr
