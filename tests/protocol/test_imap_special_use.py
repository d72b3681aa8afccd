"""CREATE-SPECIAL-USE (RFC 6154 3): unsupported attributes are refused with
NO [USEATTR] and nothing is created; several USE groups and any case are
accepted; each attribute belongs to one mailbox of the account and moves
to a mailbox created with it; LIST (SPECIAL-USE) lists only special-use
mailboxes."""

from imapa import no, ok, users_fixture

U, P = "special@example.org", "special-pw-1"

users = users_fixture((U, P))


def names(c, text, tag="l"):
    lines, _ = ok(c, tag, text)
    return lines


def special_of(c, name):
    """The special-use attributes LIST shows on name."""
    (line,) = names(c, 'LIST "" "%s" RETURN (SPECIAL-USE)' % name)
    attrs = line.split(b"(", 1)[1].split(b")", 1)[0].split()
    return sorted(a for a in attrs if a not in (b"\\HasNoChildren",
                                                 b"\\HasChildren"))


def test_unsupported_attributes_create_nothing(instance):
    c = instance.login(U, P)
    for i, attrs in enumerate(("\\All", "\\Flagged", "\\Bogus",
                               "\\Sent \\All", "\\Important")):
        no(c, "u%d" % i, 'CREATE Bad%d (USE (%s))' % (i, attrs), "USEATTR")
        assert names(c, 'LIST "" "Bad%d"' % i, tag="l%d" % i) == []
    # a refused CREATE moved nothing either
    assert special_of(c, "Sent") == [b"\\Sent"]
    c.close()


def test_groups_case_and_move(instance):
    c = instance.login(U, P)
    ok(c, "c1", 'create "Sent Items" (use (\\sent) USE (\\JUNK))')
    assert special_of(c, "Sent Items") == [b"\\Junk", b"\\Sent"]
    # moved: the default Sent and Junk lost their attribute
    assert special_of(c, "Sent") == []
    assert special_of(c, "Junk") == []
    lines = names(c, 'LIST (SPECIAL-USE) "" "*"')
    listed = sorted(l.split(b"\"/\" ", 1)[1] for l in lines)
    assert listed == [b'"Archive"', b'"Drafts"', b'"Sent Items"',
                      b'"Trash"'], lines
    for l in lines:
        assert any(a in l for a in (b"\\Archive", b"\\Drafts", b"\\Sent",
                                    b"\\Trash")), l
    # a nested mailbox, and moving again
    ok(c, "c2", 'CREATE Folders/Bin (USE (\\Trash))')
    assert special_of(c, "Folders/Bin") == [b"\\Trash"]
    assert special_of(c, "Trash") == []
    # CREATE of an existing name fails and moves nothing
    no(c, "c3", 'CREATE Trash (USE (\\Trash))', "ALREADYEXISTS")
    assert special_of(c, "Folders/Bin") == [b"\\Trash"]
    # an empty USE list is a plain CREATE
    ok(c, "c4", "CREATE Plain (USE ())")
    assert special_of(c, "Plain") == []
    # the attribute survives RENAME, and a new account-wide owner takes it
    ok(c, "r", 'RENAME "Sent Items" Outbox')
    assert special_of(c, "Outbox") == [b"\\Junk", b"\\Sent"]
    ok(c, "c5", "CREATE Sent2 (USE (\\Sent))")
    assert special_of(c, "Outbox") == [b"\\Junk"]
    assert special_of(c, "Sent2") == [b"\\Sent"]
    c.close()
    # another session sees the same
    c = instance.login(U, P)
    lines = names(c, 'LIST (SPECIAL-USE) "" "*"')
    assert sum(1 for l in lines if b"\\Sent" in l) == 1, lines
    c.close()
