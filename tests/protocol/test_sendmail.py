"""mailadm sendmail end to end against Postern's own submission server:
the default server (this instance's submissions_listen, verified against
its own certificate), a password file, a bare Ed25519 key certified on the
fly, a PEM with key and certificate, --key with --cert, STARTTLS on 587,
BDAT chunks of a large message, refusals and their exit codes, and the
"sendmail" symlink with sendmail.conf. Delivery is checked through IMAP."""

import os
import subprocess

import pytest

from helpers import MAILADM
from smtpa import inbox_messages

A, PA = "send-a@example.org", "send-a-pw-1"
B, PB = "send-b@example.org", "send-b-pw-2"
EX_NOPERM, EX_TEMPFAIL = 77, 75


@pytest.fixture(scope="module")
def inst(instance, tmp_path_factory):
    instance.add_user(A, PA)
    instance.add_user(B, PB)
    d = tmp_path_factory.mktemp("sendmail")
    pw = d / "pw"
    pw.write_text(PA + "\n")
    instance.pwfile = str(pw)
    instance.tmp = d
    return instance


def sendmail(inst, args, data, env=None):
    e = dict(os.environ, POSTERN_SENDMAIL_CONF="/nonexistent")
    e.update(env or {})
    return subprocess.run([MAILADM, "-c", inst.conf, "sendmail"] + args,
                          input=data, capture_output=True, timeout=60,
                          env=e)


def received(inst, marker):
    return [m for m in inbox_messages(inst, B, PB) if marker in m]


def test_password_default_server(inst):
    data = (b"To: send-b@example.org\nBcc: send-b@example.org\n"
            b"Subject: pw\n\nMARK-PW\n")
    r = sendmail(inst, ["-t", "--user", A, "--password-file", inst.pwfile,
                        "-v"], data)
    assert r.returncode == 0, (r.stderr, inst.log_tail())
    # the best mechanism both sides have, bound to the TLS session
    assert b"C: AUTH SCRAM-SHA-256-PLUS ***" in r.stderr
    assert PA.encode() not in r.stderr
    [m] = received(inst, b"MARK-PW")
    assert b"\r\nFrom: send-a@example.org\r\n" in m  # added
    assert b"Bcc" not in m
    assert b"Received:" in m  # the server's, naming the account


def test_bare_key_certified_on_the_fly(inst, certdir):
    crt, key, fp = inst.tlskey_gen(certdir, "sm-bare")
    with open(crt) as f:
        assert inst.mailadm("tlskey", "add", A,
                            input=f.read()).returncode == 0
    with open(key, "rb") as f:
        assert b"CERTIFICATE" not in f.read()
    r = sendmail(inst, ["--key", key, "-f", A, B],
                 b"Subject: key\n\nMARK-KEY\n")
    assert r.returncode == 0, (r.stderr, inst.log_tail())
    assert len(received(inst, b"MARK-KEY")) == 1


def test_pem_with_key_and_cert_and_separate_cert(inst, certdir):
    crt, key, fp = inst.tlskey_gen(certdir, "sm-pem")
    with open(crt) as f:
        assert inst.mailadm("tlskey", "add", A,
                            input=f.read()).returncode == 0
    pem = os.path.join(certdir, "sm-pem.pem")
    with open(pem, "wb") as out:
        for p in (key, crt):
            with open(p, "rb") as f:
                out.write(f.read())
    os.chmod(pem, 0o600)
    r = sendmail(inst, ["--key", pem, "-f", A, B],
                 b"Subject: pem\n\nMARK-PEM\n")
    assert r.returncode == 0, (r.stderr, inst.log_tail())
    r = sendmail(inst, ["--key", key, "--cert", crt, "-f", A, B],
                 b"Subject: pem\n\nMARK-CERT\n")
    assert r.returncode == 0, (r.stderr, inst.log_tail())
    assert len(received(inst, b"MARK-PEM")) == 1
    assert len(received(inst, b"MARK-CERT")) == 1


def test_unregistered_key_refused(inst, certdir):
    crt, key, fp = inst.tlskey_gen(certdir, "sm-stranger")
    r = sendmail(inst, ["--key", key, "-f", A, B],
                 b"Subject: no\n\nMARK-STRANGER\n")
    assert r.returncode == EX_NOPERM, (r.stderr, inst.log_tail())
    assert received(inst, b"MARK-STRANGER") == []


def test_sender_not_owned(inst):
    r = sendmail(inst, ["-f", B, "--user", A, "--password-file",
                        inst.pwfile, B], b"Subject: x\n\nMARK-NOTOWNED\n")
    assert r.returncode == EX_NOPERM, r.stderr
    assert b"5.7.1" in r.stderr
    assert received(inst, b"MARK-NOTOWNED") == []


def test_starttls_587_and_large_message_in_bdat_chunks(inst):
    line = b"%05d the quick brown fox jumps over the lazy dog\n"
    body = b"".join(line % i for i in range(12000))  # ~600 KB: 3 chunks
    r = sendmail(inst, ["--server", "%s:%d" % (inst.host,
                                               inst.submission_port),
                        "--starttls", "--ca-file", inst.cert_path,
                        "--user", A, "--password-file", inst.pwfile,
                        "--trace", "trace", B],
                 b"Subject: big\n\nMARK-BIG\n" + body)
    assert r.returncode == 0, (r.stderr[-3000:], inst.log_tail())
    assert r.stderr.count(b"C: BDAT ") >= 3
    assert b" LAST" in r.stderr
    [m] = received(inst, b"MARK-BIG")
    assert m.endswith(body.replace(b"\n", b"\r\n"))


def test_wrong_password(inst, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    r = sendmail(inst, ["--user", A, "--password-file", str(bad), B],
                 b"Subject: x\n\nMARK-BADPW\n")
    assert r.returncode == EX_NOPERM, r.stderr
    assert received(inst, b"MARK-BADPW") == []


def test_symlink_with_sendmail_conf(inst, tmp_path):
    conf = tmp_path / "sendmail.conf"
    conf.write_text("-C %s\n--user %s\n--password-file %s\n"
                    % (inst.conf, A, inst.pwfile))
    link = tmp_path / "sendmail"
    os.symlink(MAILADM, link)
    r = subprocess.run([str(link), "-oi", B],
                       input=b"Subject: cron\n\nMARK-LINK\n.\nstill\n",
                       capture_output=True, timeout=60,
                       env=dict(os.environ,
                                POSTERN_SENDMAIL_CONF=str(conf)))
    assert r.returncode == 0, (r.stderr, inst.log_tail())
    [m] = received(inst, b"MARK-LINK")
    assert m.endswith(b"MARK-LINK\r\n.\r\nstill\r\n")
