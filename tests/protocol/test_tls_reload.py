"""Certificates in production: a second domain's certificate chosen by SNI
(tls_sni_certs), and a certificate renewed on disk served to new
connections after SIGHUP while an established session keeps working."""

import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

import helpers
from imapa import ok

CERTS = tempfile.mkdtemp(prefix="postern-sni-", dir="/tmp")
os.chmod(CERTS, 0o755)
U, P = "tlsreload@example.test", "tlsreload-pw"


def make_cert(stem, name):
    """A self-signed P-256 certificate for name; returns (crt, key)."""
    crt, key = stem + ".crt", stem + ".key"
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
         "/CN=%s" % name, "-addext", "subjectAltName=DNS:%s" % name,
         "-keyout", key, "-out", crt], capture_output=True, text=True,
        timeout=60)
    assert r.returncode == 0, r.stderr
    os.chmod(key, 0o600)
    return crt, key


SECOND = make_cert(os.path.join(CERTS, "second"), "mail.second.test")
POSTERN_CONF = {"tls_sni_certs": "%s:%s" % SECOND}


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def served(instance, sni):
    """The DER certificate the IMAPS listener presents for sni."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((instance.host, instance.imaps_port),
                                  helpers.TIMEOUT) as s:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            return t.getpeercert(binary_form=True)


def fp(der):
    return hashlib.sha256(der).hexdigest()


def test_sni_second_domain(instance):
    default = der_of(instance.cert_path)
    assert served(instance, "mail.second.test") == der_of(SECOND[0])
    assert served(instance, "localhost") == default
    assert served(instance, None) == default
    assert served(instance, "unknown.example") == default
    # verified by a client that trusts only the second domain's cert
    ctx = ssl.create_default_context(cafile=SECOND[0])
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    with socket.create_connection((instance.host, instance.imaps_port),
                                  helpers.TIMEOUT) as s:
        with ctx.wrap_socket(s, server_hostname="mail.second.test") as t:
            assert t.recv(100).startswith(b"* OK")


def test_renewed_cert_after_sighup(fresh_instance):
    inst = fresh_instance
    inst.add_user(U, P)
    old_der = der_of(inst.cert_path)
    old = inst.login(U, P)  # over IMAPS, verified against the old cert
    ok(old, "s", "SELECT INBOX")
    new_crt, new_key = make_cert(os.path.join(CERTS, "renewed"), "localhost")
    # the renewal tool's way: new files moved over the old names
    shutil.copy(new_crt, inst.cert_path + ".new")
    shutil.copy(new_key, inst.settings["tls_key"] + ".new")
    os.chmod(inst.settings["tls_key"] + ".new", 0o600)
    os.rename(inst.settings["tls_key"] + ".new", inst.settings["tls_key"])
    os.rename(inst.cert_path + ".new", inst.cert_path)
    assert served(inst, "localhost") == old_der  # nothing reloaded yet
    inst.master.send_signal(signal.SIGHUP)
    helpers.wait_for(lambda: served(inst, "localhost") == der_of(new_crt),
                     timeout=20, what="the renewed certificate")
    # every new connection gets it (the old pool has retired)
    for _ in range(5):
        assert fp(served(inst, "localhost")) == fp(der_of(new_crt))
    # the old session was not dropped and still works
    ok(old, "n", "NOOP")
    lines, _ = ok(old, "st", "STATUS INBOX (MESSAGES)")
    assert b"MESSAGES" in lines[0]
    assert old.sock.getpeercert(binary_form=True) == old_der
    old.close()
    assert "configuration reloaded" in inst.log


import pytest  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _remove_certs():
    yield
    shutil.rmtree(CERTS, ignore_errors=True)
