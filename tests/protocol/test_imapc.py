"""lib/imapc (through tests/tools/imapc-probe) against a real Postern
instance: implicit TLS and STARTTLS with the server certificate verified,
PLAIN, SCRAM-SHA-1, SCRAM-SHA-256-PLUS (channel binding), LOGIN, a client
certificate (PREAUTH on 993, EXTERNAL after STARTTLS), APPEND with a
literal, pipelined commands, FETCH literals read back byte for byte, and
what each trace level shows."""

import os
import subprocess

import pytest

from helpers import BUILD

PROBE = os.path.join(BUILD, "tests", "imapc-probe")
U, PW = "imapc@example.org", "imapc secret pw"


@pytest.fixture(scope="module")
def inst(instance, tmp_path_factory):
    instance.add_user(U, PW)
    d = tmp_path_factory.mktemp("imapc")
    pw = d / "pw"
    pw.write_text(PW + "\n")
    instance.pwfile = str(pw)
    instance.tmp = d
    return instance


def probe(inst, mode, *args, append=None):
    port = inst.imaps_port if mode == "tls" else inst.imap_port
    argv = [PROBE, inst.host, str(port), mode, "--ca-file", inst.cert_path]
    argv += list(args)
    if append is not None:
        p = inst.tmp / "append.eml"
        p.write_bytes(append)
        argv += ["--append", str(p)]
    return subprocess.run(argv, capture_output=True, timeout=60)


def user_args(inst, mechs=None):
    a = ["--user", U, "--password-file", inst.pwfile]
    return a + (["--mechs", mechs] if mechs else [])


def test_scram_plus_is_chosen_and_append_fetch_roundtrip(inst):
    msg = b"From: a@example.org\r\nSubject: imapc\r\n\r\nline {3}\r\n" \
          b"\x00binary? no: " + b"x" * 5000 + b"\r\n"
    r = probe(inst, "tls", *user_args(inst), append=msg)
    assert r.returncode == 0, r.stderr
    head, _, rest = r.stdout.partition(b"\n")
    assert head.startswith(b"auth=SCRAM-SHA-256-PLUS tls=TLSv1.")
    assert b"msg 1 bytes=%d\n" % len(msg) in rest
    assert msg in rest


@pytest.mark.parametrize("mechs,want", [
    ("PLAIN", b"PLAIN"), ("SCRAM-SHA-1", b"SCRAM-SHA-1"),
    ("SCRAM-SHA-256", b"SCRAM-SHA-256"), ("LOGIN", b"LOGIN")])
def test_each_mechanism_over_starttls(inst, mechs, want):
    r = probe(inst, "starttls", *user_args(inst, mechs))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"auth=" + want + b" tls=TLSv1.")


def test_wrong_password(inst, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("not it\n")
    for mechs in ("PLAIN", "SCRAM-SHA-256-PLUS"):
        r = probe(inst, "tls", "--user", U, "--password-file", str(bad),
                  "--mechs", mechs)
        assert r.returncode == 1
        assert b"authentication failed" in r.stderr


def test_certificate_verified(inst):
    # the system bundle does not know the instance's self-signed cert
    r = subprocess.run([PROBE, inst.host, str(inst.imaps_port), "tls"] +
                       user_args(inst), capture_output=True, timeout=60)
    assert r.returncode == 1
    assert b"certificate" in r.stderr


def test_plaintext_never_sends_plain(inst):
    r = probe(inst, "none", *user_args(inst, "PLAIN"))
    assert r.returncode == 1
    assert b"no authentication mechanism" in r.stderr


def test_client_certificate_preauth_and_external(inst, certdir):
    crt, key, fp = inst.tlskey_gen(certdir, "imapc")
    with open(crt) as f:
        r = inst.mailadm("tlskey", "add", U, input=f.read())
    assert r.returncode == 0, r.stderr
    r = probe(inst, "tls", "--key", key, "--cert", crt)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"auth=PREAUTH ")
    r = probe(inst, "starttls", "--key", key, "--cert", crt)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"auth=EXTERNAL ")


def test_trace_levels(inst):
    body = b"Subject: traced\r\n\r\nTRACEDBODYTEXT\r\n"
    out = {}
    for level in ("trace", "traceauth", "tracedata"):
        r = probe(inst, "tls", *user_args(inst, "PLAIN"), "--trace", level,
                  append=body)
        assert r.returncode == 0, r.stderr
        out[level] = r.stderr
    import base64
    secret = base64.b64encode(b"\0" + U.encode() + b"\0" + PW.encode())
    assert secret not in out["trace"]
    assert b"C: a1 AUTHENTICATE PLAIN ***" in out["trace"]
    assert b"TRACEDBODYTEXT" not in out["trace"]
    assert b"... (%d bytes)" % len(body) in out["trace"]
    assert secret in out["traceauth"]
    assert b"TRACEDBODYTEXT" not in out["traceauth"]
    assert b"TRACEDBODYTEXT" in out["tracedata"]


def test_response_size_is_bounded(inst):
    big = b"Subject: big\r\n\r\n" + b"y" * 20000 + b"\r\n"
    r = probe(inst, "tls", *user_args(inst), append=big)
    assert r.returncode == 0, r.stderr
    r = probe(inst, "tls", *user_args(inst), "--max-response", "8192")
    assert r.returncode == 1
    assert b"literal too large" in r.stderr
