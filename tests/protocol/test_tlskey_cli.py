"""mailadm tlskey and user alias/show: errors, account deletion, and the
per-listener tls_request_client_cert option (this module's instances ask
for certificates on the STARTTLS listener only)."""

import os
import subprocess

from helpers import caps_of, quote

POSTERN_CONF = {"tls_request_client_cert": "imap"}

A, PA = "cli-a@example.org", "cli-a-pw-1"
B, PB = "cli-b@example.org", "cli-b-pw-2"


def _read(path):
    with open(path) as f:
        return f.read()


def _err(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailadm: "), r.stderr
    return lines[0]


def test_add_errors(instance, certdir):
    instance.add_user(A, PA)
    crt, key, fp = instance.tlskey_gen(certdir, "dup")
    r = instance.mailadm("tlskey", "add", A, input=_read(crt))
    assert r.returncode == 0 and r.stdout.strip() == fp, r.stderr
    # the same key again, even for another account
    instance.add_user(B, PB)
    e = _err(instance.mailadm("tlskey", "add", B, input=_read(crt)), 3)
    assert "already registered" in e and A in e, e
    # a private key on stdin, alone or with the certificate: never sent
    for text in (_read(key), _read(crt) + _read(key)):
        e = _err(instance.mailadm("tlskey", "add", A, input=text), 5)
        assert "private key" in e, e
    assert "PRIVATE KEY" not in instance.log
    # not a certificate at all / nothing
    e = _err(instance.mailadm("tlskey", "add", A, input="hello\n"), 5)
    assert "no PEM certificate" in e, e
    _err(instance.mailadm("tlskey", "add", A, input=""), 5)
    # an address no account has
    orphan = instance.tlskey_gen(certdir, "orphan")[0]
    e = _err(instance.mailadm("tlskey", "add", "nobody@example.org",
                              input=_read(orphan)), 4)
    assert "no account has the address" in e, e
    # a weak key
    wcrt = os.path.join(certdir, "weak.crt")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:1024",
                        "-nodes", "-keyout", os.path.join(certdir, "weak.key"),
                        "-out", wcrt, "-subj", "/CN=weak", "-days", "1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    e = _err(instance.mailadm("tlskey", "add", A, input=_read(wcrt)), 5)
    assert "RSA key shorter than 2048 bits" in e, e
    # a bad name
    e = _err(instance.mailadm("tlskey", "add", A, "--name", "a\tb",
                              input=_read(crt)), 5)
    assert "invalid key name" in e, e


def test_show_rm_unknown(instance):
    unknown = "A" * 42 + "A"
    e = _err(instance.mailadm("tlskey", "show", unknown), 4)
    assert "no such key" in e, e
    _err(instance.mailadm("tlskey", "rm", unknown), 4)
    e = _err(instance.mailadm("tlskey", "rm", "not-a-fingerprint"), 5)
    assert "invalid fingerprint" in e, e
    _err(instance.mailadm("tlskey", "list", "nobody@example.org"), 4)


def test_fingerprint_starting_with_dash(instance):
    """base64url fingerprints may start with '-' (1 key in 64): mailadm must
    take them as arguments, not options (a flaky failure found in CI)."""
    fp = "-" + "A" * 42
    for args in (("tlskey", "show", fp), ("tlskey", "rm", fp),
                 ("tlskey", "show", "--", fp)):
        line = _err(instance.mailadm(*args), 4)
        assert "unknown option" not in line, line


def test_howto_name_checked(instance):
    _err(instance.mailadm("tlskey", "howto", "x; rm -rf /"), 2)
    r = instance.mailadm("tlskey", "gen", "/nonexistent-dir/x")
    assert r.returncode == 1, r.stderr


def test_gen_refuses_overwrite(instance, certdir):
    instance.tlskey_gen(certdir, "once")
    e = _err(instance.mailadm("tlskey", "gen",
                              os.path.join(certdir, "once")), 1)
    assert "exists" in e, e


def test_alias_and_show(instance, certdir):
    user, pw, alias = "carol@example.org", "carol-pw-1", "c@example.com"
    instance.add_user(user, pw)
    assert instance.mailadm("user", "alias", "add", user,
                            alias).returncode == 0
    # one namespace: not twice, not over an account, not on an alias
    _err(instance.mailadm("user", "alias", "add", user, alias), 3)
    _err(instance.mailadm("user", "alias", "add", user, A), 3)
    _err(instance.mailadm("user", "alias", "add", alias,
                          "x@example.com"), 5)
    _err(instance.mailadm("user", "add", alias, "--password-stdin",
                          input="pw-xyz-1\n"), 3)
    # the alias logs in to the account (its worker, its name)
    with instance.imaps() as c:
        # (the domain is case-insensitive, as for accounts)
        _, tagged = c.command("l", "LOGIN %s %s" % (quote("c@EXAMPLE.com"),
                                                     quote(pw)))
        assert tagged.startswith(b"l OK"), tagged
    crt, _, fp = instance.tlskey_gen(certdir, "carol-phone")
    r = instance.mailadm("tlskey", "add", alias, "--name", "carol's phone",
                         "--no-imap-preauth", input=_read(crt))
    assert r.returncode == 0, r.stderr
    r = instance.mailadm("user", "show", alias)
    assert r.returncode == 0, r.stderr
    assert "account: %s\n" % user in r.stdout, r.stdout
    assert "alias: %s\n" % alias in r.stdout, r.stdout
    assert ("key: %s\t%s\tEd25519\tno-imap-preauth\tcarol's phone\n"
            % (fp, alias)) in r.stdout, r.stdout
    # the key's login address cannot go while the key uses it
    e = _err(instance.mailadm("user", "alias", "del", alias), 3)
    assert fp in e, e
    _err(instance.mailadm("user", "alias", "del", user), 5)
    _err(instance.mailadm("user", "alias", "del", "zz@example.com"), 4)
    assert instance.mailadm("tlskey", "rm", fp).returncode == 0
    assert instance.mailadm("user", "alias", "del", alias).returncode == 0
    with instance.imaps() as c:
        _, tagged = c.command("l", "LOGIN %s %s" % (quote(alias), quote(pw)))
        assert tagged.startswith(b"l NO"), tagged


def test_user_del_removes_keys_and_aliases(instance, certdir):
    user, pw, alias = "dave@example.org", "dave-pw-1", "d@example.com"
    instance.add_user(user, pw)
    assert instance.mailadm("user", "alias", "add", user,
                            alias).returncode == 0
    fps = []
    for dev in ("dave-1", "dave-2"):
        crt, _, fp = instance.tlskey_gen(certdir, dev)
        r = instance.mailadm("tlskey", "add", user, "--name", dev,
                             input=_read(crt))
        assert r.returncode == 0, r.stderr
        fps.append(fp)
    r = instance.mailadm("tlskey", "list", user)
    assert sorted(l.split("\t")[0] for l in r.stdout.splitlines()) == \
        sorted(fps), r.stdout
    assert instance.mailadm("user", "del", user).returncode == 0
    for fp in fps:
        _err(instance.mailadm("tlskey", "show", fp), 4)
    r = instance.mailadm("tlskey", "list")
    assert not any(fp in r.stdout for fp in fps), r.stdout
    # the alias is free again, the keys can be registered anew
    instance.add_user(alias, "new-owner-pw")
    r = instance.mailadm("tlskey", "add", alias,
                         input=_read(os.path.join(certdir, "dave-1.crt")))
    assert r.returncode == 0, r.stderr


def test_listener_without_certificate_request(instance, certdir):
    """imaps is left out of tls_request_client_cert: a registered key
    there is never asked for; STARTTLS on imap still asks."""
    user, pw = "erin@example.org", "erin-pw-1"
    instance.add_user(user, pw)
    crt, key, fp = instance.tlskey_gen(certdir, "erin")
    assert instance.mailadm("tlskey", "add", user,
                            input=_read(crt)).returncode == 0
    ctx = instance.client_ctx(crt, key)
    with instance.imaps(ctx=ctx) as c:
        assert c.greeting.startswith(b"* OK "), c.greeting
        assert "AUTH=EXTERNAL" not in caps_of([c.greeting])
        _, tagged = c.command("a", "AUTHENTICATE EXTERNAL =")
        assert tagged.startswith(b"a NO"), tagged
    with instance.starttls(instance.imap_plain(), ctx) as c:
        lines, _ = c.command("c", "CAPABILITY")
        assert "AUTH=EXTERNAL" in caps_of(lines), lines
        _, tagged = c.command("a", "AUTHENTICATE EXTERNAL =")
        assert tagged.startswith(b"a OK"), tagged
