"""The first SELECT of a big mailbox in a fresh worker process starts from
the snapshot file an earlier worker left (HOME/cache/<id>.mbc,
imap/imap_mbsnap.c) and reads only the changes since. Whatever another
process changed in between, the view must be the store's truth; a corrupt,
truncated or foreign snapshot is ignored and the mailbox listed from the
store. Truth: store-poke, and FETCH of a session whose worker listed the
mailbox from the store (no snapshot)."""

import glob
import os
import signal
import struct
import time

from helpers import wait_for
from imapa import code_of, exists, home_of, ok, poke, users_fixture

U, P = "snap@example.org", "snap-pw-1"
N = 2500  # above IMAP_MBCACHE_MIN_MESSAGES: cached, so snapshotted

users = users_fixture((U, P))

LOADED = "message list from its snapshot"
IGNORED = "snapshot ignored: "


def _snap_files(instance):
    return glob.glob(os.path.join(home_of(instance, U), "cache", "*.mbc"))


def _wait_snap_files(instance, n):
    """The worker writes a filled list's snapshot a second after the
    SELECT (MBCACHE_SAVE_DELAY_MS), from its event loop."""
    deadline = time.monotonic() + 10
    while len(_snap_files(instance)) != n:
        assert time.monotonic() < deadline, _snap_files(instance)
        time.sleep(0.05)


def _restart_worker(instance, sig):
    """Ends U's worker (all its sessions closed by the caller) and waits
    until it is gone, so the next login gets a fresh process."""
    for pid in instance.worker_pids(U):
        os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while instance.worker_pids(U):
        assert time.monotonic() < deadline, "worker did not exit"
        time.sleep(0.05)


def _listing(c):
    lines, _ = ok(c, "fa", "FETCH 1:* (UID MODSEQ FLAGS)")
    return [l for l in lines if b" FETCH " in l]


def _select(instance, mb):
    """A fresh session's SELECT; (conn, lines, log text it added)."""
    before = len(instance.log)
    c = instance.login(U, P)
    lines, _ = ok(c, "s", "SELECT %s (CONDSTORE)" % mb)
    return c, lines, instance.log[before:]


def _check(instance, mb, c, lines):
    uids = [int(x) for x in poke(instance, U, "uids", mb).split()]
    st = poke(instance, U, "status", mb).split()
    text = b"\n".join(lines)
    assert exists(lines) == len(uids) == int(st[0])
    assert int(code_of(text, "UIDNEXT")) == int(st[1])
    assert int(code_of(text, "UIDVALIDITY")) == int(st[2])
    assert int(code_of(text, "HIGHESTMODSEQ")) == int(st[3])
    found, _ = ok(c, "u", "UID SEARCH ALL")
    assert [int(x) for x in found[-1].split()[2:]] == uids
    unseen, _ = ok(c, "un", "SEARCH UNSEEN")
    first = [int(x) for x in unseen[-1].split()[2:]][:1]
    got = code_of(text, "UNSEEN")
    assert (int(got) if got is not None else None) == \
        (first[0] if first else None)
    return uids


def _truth_listing(instance, mb):
    """FETCH 1:* of a worker that listed the mailbox from the store."""
    for f in _snap_files(instance):
        os.unlink(f)
    _restart_worker(instance, signal.SIGTERM)
    for f in _snap_files(instance):  # the exiting worker wrote one
        os.unlink(f)
    c, _, log = _select(instance, mb)
    assert LOADED not in log
    out = _listing(c)
    c.close()
    return out


def _hash(data):
    """lib/str.c str_hash_bytes."""
    m = (1 << 64) - 1
    p = 0x100000001b3
    h = 0xcbf29ce484222325
    i = 0

    def word(at):
        return int.from_bytes(data[at:at + 8], "little")

    if len(data) >= 64:
        lanes = [h, h ^ 1, h ^ 2, h ^ 3]
        while i + 32 <= len(data):
            lanes = [((lanes[k] ^ word(i + 8 * k)) * p) & m
                     for k in range(4)]
            i += 32
        h = lanes[0]
        for x in lanes[1:]:
            h = ((h ^ x) * p) & m
    while i + 8 <= len(data):
        h = ((h ^ word(i)) * p) & m
        i += 8
    for b in data[i:]:
        h = ((h ^ b) * 0x100000001b3) & m
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & m
    h ^= h >> 33
    return h


def _big(instance, mb):
    for f in _snap_files(instance):  # other tests' mailboxes
        os.unlink(f)
    c0 = instance.login(U, P)
    ok(c0, "cr", "CREATE " + mb)
    c0.close()
    poke(instance, U, "fill", mb, N)


def test_fresh_worker_starts_from_snapshot(instance):
    mb = "big"
    _big(instance, mb)
    c, lines, log = _select(instance, mb)
    assert LOADED not in log
    uids = _check(instance, mb, c, lines)
    c.close()
    # written soon after the full listing: even a killed worker leaves one
    _wait_snap_files(instance, 1)
    _restart_worker(instance, signal.SIGKILL)

    # another process changes the mailbox while no worker runs
    poke(instance, U, "flags", mb, uids[0], uids[299], "+1")
    poke(instance, U, "expunge", mb, uids[0], uids[99])
    poke(instance, U, "expunge", mb, uids[1000], uids[1000])
    poke(instance, U, "append", mb, 5)
    poke(instance, U, "flags", mb, uids[150], uids[160], "-1")
    c, lines, log = _select(instance, mb)
    assert LOADED in log, log
    uids2 = _check(instance, mb, c, lines)
    assert len(uids2) == N - 101 + 5
    assert int(code_of(b"\n".join(lines), "UNSEEN")) == 51  # uids[150]
    view = _listing(c)
    c.close()

    # the exiting worker writes the newer state; changes after that one
    # are read too
    _restart_worker(instance, signal.SIGTERM)
    poke(instance, U, "expunge", mb, uids[2000], uids[2099])
    c, lines, log = _select(instance, mb)
    assert LOADED in log, log
    _check(instance, mb, c, lines)
    view = _listing(c)
    c.close()
    assert view == _truth_listing(instance, mb)

    # DELETE drops the snapshot (mailbox ids are never reused)
    _wait_snap_files(instance, 1)
    c0 = instance.login(U, P)
    ok(c0, "d", "DELETE " + mb)
    assert _snap_files(instance) == []
    c0.close()


def test_fresh_worker_warms_up_before_select(instance):
    """A fresh worker loads the last worker's snapshots right after the
    login reply, before any SELECT (imap_mbcache_warm); a change made after
    that load is still in the SELECT, and the mailbox is not read twice."""
    mb = "warm"
    _big(instance, mb)
    c, lines, _ = _select(instance, mb)
    uids = _check(instance, mb, c, lines)
    c.close()
    _restart_worker(instance, signal.SIGTERM)  # leaves the snapshot
    # a flag change that leaves \Seen as it was: the list and its \Seen
    # bytes stay in the snapshot's (read-only) mapping
    poke(instance, U, "flags", mb, uids[30], uids[39], "+4")
    before = len(instance.log)
    c = instance.login(U, P)
    wait_for(lambda: LOADED in instance.log[before:], what="warm-up")
    # nothing selected yet: the load came from the warm-up
    assert "name=SELECT" not in instance.log[before:]
    poke(instance, U, "expunge", mb, uids[10], uids[19])
    poke(instance, U, "append", mb, 4)
    mark = len(instance.log)
    lines, _ = ok(c, "s", "SELECT %s (CONDSTORE)" % mb)
    assert LOADED not in instance.log[mark:]  # the warm list, refreshed
    assert len(_check(instance, mb, c, lines)) == N - 10 + 4
    view = _listing(c)
    c.close()
    assert view == _truth_listing(instance, mb)
    c0 = instance.login(U, P)
    ok(c0, "d", "DELETE " + mb)  # and its snapshot, for the next test
    c0.close()


def _damaged(instance, mb, damage, reason):
    """Leaves a snapshot, damages it, changes the mailbox, and checks the
    fresh worker ignores the file and still shows the truth."""
    c, lines, _ = _select(instance, mb)
    c.close()
    _restart_worker(instance, signal.SIGTERM)
    (path,) = _snap_files(instance)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(damage(data))
    poke(instance, U, "append", mb, 2)
    c, lines, log = _select(instance, mb)
    assert LOADED not in log, log
    assert IGNORED + reason in log, log
    _check(instance, mb, c, lines)
    view = _listing(c)
    c.close()
    assert view == _truth_listing(instance, mb)


def test_damaged_snapshot_ignored(instance):
    mb = "big2"
    _big(instance, mb)

    def flip(data):
        b = bytearray(data)
        b[len(b) // 2] ^= 1
        return bytes(b)

    def reseal(body):
        return body + struct.pack("<Q", _hash(body))

    # the layout of imap/imap_mbsnap.h, in this (little-endian) host's
    # order: the header's u32s at 8 (version), 12 (byte order mark), 16
    # (mailbox id), 20 (UIDVALIDITY), 24 (count); the UIDs from 40
    def field(data, at, change):
        body = bytearray(data[:-8])
        body[at:at + 4] = struct.pack(
            "<I", change(struct.unpack("<I", body[at:at + 4])[0]))
        return reseal(bytes(body))

    def uidvalidity(data):
        return field(data, 20, lambda v: v ^ 0x5a5a)

    def count(data):  # announces one more message than the file holds
        return field(data, 24, lambda v: v + 1)

    def byte_order(data):  # as a host of the other byte order wrote it
        return field(data, 12, lambda v: 0x04030201)

    def stale_uid(data):  # a sealed list with a UID the store never had
        n = struct.unpack("<I", data[24:28])[0]
        return field(data, 40 + 4 * (n - 1), lambda v: 4000000000)

    _damaged(instance, mb, flip, "checksum mismatch")
    _damaged(instance, mb, lambda d: d[:len(d) - 100], "")
    _damaged(instance, mb, uidvalidity, "UIDVALIDITY differs")
    _damaged(instance, mb, count, "size does not match the count")
    _damaged(instance, mb, byte_order, "another byte order")
    _damaged(instance, mb, stale_uid, "")
    _damaged(instance, mb, lambda d: b"", "bad file size")
