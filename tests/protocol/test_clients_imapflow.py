"""imapflow (npm) against Postern with COMPRESS=DEFLATE: it reads every
message of INBOX byte for byte and moves one to Archive over a compressed
session. imapflow is installed with npm at test time into the build tree
(POSTERN_NPM_DIR overrides); node must be on PATH or /usr/bin/node."""

import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest

import helpers
import imapa

U, P = "flow@example.org", "flow-pw-1"
users = imapa.users_fixture((U, P))

HERE = os.path.dirname(os.path.abspath(__file__))
NPM_DIR = os.environ.get("POSTERN_NPM_DIR",
                         os.path.join(os.path.abspath(helpers.BUILD), "npm"))


def _need(tool):
    path = shutil.which(tool) or ("/usr/bin/" + tool
                                  if os.access("/usr/bin/" + tool, os.X_OK)
                                  else None)
    if path is None:
        msg = "%s not installed (Debian packages nodejs, npm)" % tool
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="module")
def imapflow():
    node = _need("node")
    npm = _need("npm")
    if not os.path.isdir(os.path.join(NPM_DIR, "node_modules", "imapflow")):
        os.makedirs(NPM_DIR, exist_ok=True)
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund",
                            "--prefix", NPM_DIR, "imapflow@^1.0.0 || ^2"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, "npm install imapflow: %s" % r.stderr
    return node


def test_imapflow_reads_and_moves_compressed(instance, imapflow):
    c = instance.login(U, P)
    msgs = [imapa.message(1, subject=b"flow one"),
            imapa.message(2, size=300000, subject=b"flow two (large)"),
            imapa.message(3, subject=b"flow three")]
    uids = [imapa.append(c, "INBOX", m)[1] for m in msgs]
    c.close()
    before = instance.log.count("deflate_out=")

    r = subprocess.run([imapflow, os.path.join(HERE, "clients",
                                               "imapflow_session.js"),
                        NPM_DIR, instance.host, str(instance.imaps_port), U,
                        P, str(uids[1]), instance.tls_name or ""],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["compressed"], "imapflow did not negotiate COMPRESS"
    got = {m["uid"]: m for m in rep["messages"]}
    for uid, m in zip(uids, msgs):
        assert got[uid]["size"] == len(m)
        assert got[uid]["sha256"] == hashlib.sha256(m).hexdigest()
    assert got[uids[1]]["subject"] == "flow two (large)"
    assert rep["moved"], rep
    assert uids[1] not in rep["left"] and uids[0] in rep["left"]
    assert rep["archive"] == 1

    # the server agrees: its session was compressed, the move happened
    helpers.wait_for(lambda: instance.log.count("deflate_out=") > before,
                     what="the compressed session's close line")
    line = [l for l in instance.log.splitlines() if "deflate_out=" in l][-1]
    m = re.search(r"deflate_out=(\d+)/(\d+)", line)
    assert int(m.group(1)) < int(m.group(2)), line  # it compressed
    c = instance.login(U, P)
    lines, _ = imapa.ok(c, "s", "STATUS Archive (MESSAGES)")
    assert b"MESSAGES 1" in lines[0]
    lines, _ = imapa.ok(c, "s2", "STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 2" in lines[0]
    c.close()
