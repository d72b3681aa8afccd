"""CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, NAMESPACE
(RFC 9051 6.3.4-6.3.10), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154), CHILDREN, and mailbox name
encoding (modified UTF-7, UTF-8 with UTF8=ACCEPT / IMAP4rev2)."""

from imapa import append, bad, message, no, ok, users_fixture

U, P = "boxes@example.org", "boxes-pw-1"
U2, P2 = "listx@example.org", "listx-pw-1"
U3, P3 = "rename@example.org", "rename-pw-1"


users = users_fixture((U, P), (U2, P2), (U3, P3))


def lst(c, text, tag="l"):
    lines, _ = ok(c, tag, text)
    return lines


def test_new_account_mailboxes(instance):
    """Six mailboxes with their special-use attributes, all subscribed."""
    c = instance.login(U, P)
    assert lst(c, 'LIST "" "*"') == [
        b'* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
    ]
    assert len(lst(c, 'LSUB "" "*"')) == 6
    assert lst(c, 'LIST "" ""') == [b'* LIST (\\Noselect) "/" ""']
    assert lst(c, 'LIST "" "inbox"') == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"']
    lines, _ = ok(c, "n", "NAMESPACE")
    assert lines == [b'* NAMESPACE (("" "/")) NIL NIL']
    c.close()


def test_create_delete(instance):
    c = instance.login(U, P)
    ok(c, "c1", "CREATE owatagusiam/")  # trailing delimiter dropped
    ok(c, "c2", "CREATE owatagusiam/blurdybloop")
    no(c, "c3", "CREATE owatagusiam", "ALREADYEXISTS")
    no(c, "c4", "CREATE INBOX", "ALREADYEXISTS")
    no(c, "c5", "CREATE inbox", "ALREADYEXISTS")
    no(c, "c6", 'CREATE "a//b"', "CANNOT")
    no(c, "c7", 'CREATE "a*b"', "CANNOT")
    # parents are created (RFC 9051 6.3.4)
    ok(c, "c8", "CREATE foo/bar/zap")
    assert lst(c, 'LIST "" "foo*"') == [
        b'* LIST (\\HasChildren) "/" "foo"',
        b'* LIST (\\HasChildren) "/" "foo/bar"',
        b'* LIST (\\HasNoChildren) "/" "foo/bar/zap"']
    # RFC 9051 6.3.5 example: deleting a parent keeps the children; the
    # name stays as \Noselect and cannot be deleted again
    ok(c, "d1", "DELETE foo/bar")
    assert lst(c, 'LIST "" "foo/%"') == [
        b'* LIST (\\Noselect \\HasChildren) "/" "foo/bar"']
    no(c, "d2", "DELETE foo/bar", "HASCHILDREN")
    no(c, "d3", "DELETE INBOX", "CANNOT")
    no(c, "d4", "DELETE nosuch", "NONEXISTENT")
    ok(c, "d5", "DELETE foo/bar/zap")
    ok(c, "d6", "DELETE owatagusiam/blurdybloop")
    assert lst(c, 'LIST "" "owatagusiam*"') == [
        b'* LIST (\\HasNoChildren) "/" "owatagusiam"']
    bad(c, "c9", "CREATE")
    c.close()


def test_create_special_use(instance):
    """RFC 6154 5.2 examples."""
    c = instance.login(U, P)
    ok(c, "c", 'CREATE MySpecial (USE (\\Drafts \\Sent))')
    assert lst(c, 'LIST "" MySpecial') == [
        b'* LIST (\\HasNoChildren \\Drafts \\Sent) "/" "MySpecial"']
    no(c, "c2", 'CREATE Other (USE (\\Bogus))', "USEATTR")
    bad(c, "c3", 'CREATE Other (FOO (\\Drafts))')
    c.close()


def test_list_patterns(instance):
    """RFC 9051 6.3.9: '*' and '%', the reference, \\Noselect for levels
    that only exist as parents."""
    c = instance.login(U2, P2)
    for name in ("a/b/c", "a/x", "b", "c/d"):
        ok(c, "c", "CREATE " + name)
    ok(c, "d", "DELETE c")  # c becomes an implied parent
    # in byte order of the (UTF-8) names
    names = [l.rsplit(b" ", 1)[1] for l in lst(c, 'LIST "" "%"')]
    assert names == [b'"Archive"', b'"Drafts"', b'"INBOX"', b'"Junk"',
                     b'"Sent"', b'"Trash"', b'"a"', b'"b"', b'"c"'], names
    assert b'* LIST (\\HasChildren) "/" "a"' in lst(c, 'LIST "" "%"')
    assert b'* LIST (\\Noselect \\HasChildren) "/" "c"' in \
        lst(c, 'LIST "" "%"')
    assert lst(c, 'LIST "a/" "%"') == [
        b'* LIST (\\HasChildren) "/" "a/b"',
        b'* LIST (\\HasNoChildren) "/" "a/x"']
    assert lst(c, 'LIST "" "a/*"') == [
        b'* LIST (\\HasChildren) "/" "a/b"',
        b'* LIST (\\HasNoChildren) "/" "a/b/c"',
        b'* LIST (\\HasNoChildren) "/" "a/x"']
    assert lst(c, 'LIST "" "*/c"') == [
        b'* LIST (\\HasNoChildren) "/" "a/b/c"']
    assert lst(c, 'LIST "" "nomatch%"') == []
    # a pathological pattern costs no more than its length squared
    assert lst(c, 'LIST "" "%s"' % ("*%" * 400 + "z")) == []
    bad(c, "b1", "LIST")
    bad(c, "b2", 'LIST "" "*" EXTRA')
    c.close()


def test_list_extended(instance):
    """RFC 5258 selection and return options, with its examples adapted."""
    c = instance.login(U2, P2)
    ok(c, "c", "CREATE Fruit/Apple")
    ok(c, "c", "CREATE Fruit/Banana")
    ok(c, "c", "CREATE Tofu")
    ok(c, "s", "SUBSCRIBE Fruit/Banana")
    ok(c, "s", "SUBSCRIBE Fruit/Peach")  # does not exist
    ok(c, "s", "SUBSCRIBE Tofu")
    ok(c, "u", "UNSUBSCRIBE Junk")
    # 5.3: subscribed mailboxes, with \NonExistent for missing ones
    lines = lst(c, 'LIST (SUBSCRIBED) "" "Fruit/*"')
    assert lines == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"',
        b'* LIST (\\NonExistent \\Subscribed) "/" "Fruit/Peach"'], lines
    # RETURN (SUBSCRIBED) marks without selecting
    lines = lst(c, 'LIST "" "Fruit/%" RETURN (SUBSCRIBED CHILDREN)')
    assert lines == [
        b'* LIST (\\HasNoChildren) "/" "Fruit/Apple"',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "Fruit/Banana"'], lines
    # 5.5 RECURSIVEMATCH: a parent whose subscribed child is not listed
    lines = lst(c, 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert b'* LIST (\\HasChildren) "/" "Fruit" ("CHILDINFO" ' \
           b'("SUBSCRIBED"))' in lines, lines
    assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "Tofu"' in lines
    assert not any(b'"Junk"' in l for l in lines)
    bad(c, "r", 'LIST (RECURSIVEMATCH) "" "%"')
    bad(c, "r2", 'LIST (BOGUS) "" "%"')
    bad(c, "r3", 'LIST "" "%" RETURN (BOGUS)')
    # multiple patterns
    lines = lst(c, 'LIST "" ("Tofu" "Fruit")')
    assert [l.rsplit(b" ", 1)[1] for l in lines] == [b'"Fruit"', b'"Tofu"']
    # REMOTE changes nothing here
    assert lst(c, 'LIST (REMOTE) "" "Tofu"') == lst(c, 'LIST "" "Tofu"')
    # SPECIAL-USE (RFC 6154 5.1)
    lines = lst(c, 'LIST (SPECIAL-USE) "" "*"')
    assert [l.rsplit(b" ", 1)[1] for l in lines] == [
        b'"Archive"', b'"Drafts"', b'"Junk"', b'"Sent"', b'"Trash"'], lines
    lines = lst(c, 'LIST "" "*" RETURN (SPECIAL-USE)')
    assert b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in lines
    # LSUB: \Noselect for the implied parent with '%'
    lines = lst(c, 'LSUB "" "Fruit%"')
    assert lines == [b'* LSUB (\\Noselect) "/" "Fruit"'], lines
    lines = lst(c, 'LSUB "" "Fruit/*"')
    assert lines == [b'* LSUB () "/" "Fruit/Banana"',
                     b'* LSUB () "/" "Fruit/Peach"'], lines
    c.close()


def test_list_status(instance):
    """RFC 5819: STATUS after each selectable mailbox's LIST."""
    c = instance.login(U2, P2)
    ok(c, "c", "CREATE ls/one")  # creates "ls" too
    ok(c, "c2", "CREATE ls/one/two")
    ok(c, "d", "DELETE ls")  # now only an implied parent
    append(c, "ls/one", message(1))
    append(c, "ls/one", message(2), flags="\\Seen")
    lines = lst(c, 'LIST "" "ls*" RETURN (CHILDREN STATUS (MESSAGES '
                'UNSEEN))')
    assert lines == [
        b'* LIST (\\NonExistent \\HasChildren) "/" "ls"',
        b'* LIST (\\HasChildren) "/" "ls/one"',
        b'* STATUS "ls/one" (MESSAGES 2 UNSEEN 1)',
        b'* LIST (\\HasNoChildren) "/" "ls/one/two"',
        b'* STATUS "ls/one/two" (MESSAGES 0 UNSEEN 0)'], lines
    bad(c, "b", 'LIST "" "*" RETURN (STATUS (BOGUS))')
    c.close()


def test_rename(instance):
    c = instance.login(U3, P3)
    ok(c, "c", "CREATE blurdybloop")
    ok(c, "c", "CREATE foo/bar")
    append(c, "foo", message(1))
    ok(c, "r1", "RENAME blurdybloop sarasoop")
    ok(c, "r2", "RENAME foo zowie")  # inferiors follow (RFC 9051 6.3.6)
    assert [l.rsplit(b" ", 1)[1] for l in lst(c, 'LIST "" "zowie*"')] == [
        b'"zowie"', b'"zowie/bar"']
    lines, _ = ok(c, "st", "STATUS zowie (MESSAGES)")
    assert lines == [b'* STATUS "zowie" (MESSAGES 1)']
    no(c, "r3", "RENAME nosuch x", "NONEXISTENT")
    no(c, "r4", "RENAME zowie sarasoop", "ALREADYEXISTS")
    no(c, "r5", "RENAME zowie zowie/deeper", "CANNOT")
    ok(c, "r6", "RENAME sarasoop new/parent/child")
    assert lst(c, 'LIST "" "new*"')[0] == b'* LIST (\\HasChildren) "/" "new"'
    # RENAME INBOX: the messages move, INBOX stays (empty), same
    # UIDVALIDITY; a session that has it selected sees them expunged
    for i in range(3):
        append(c, "INBOX", message(i))
    lines, _ = ok(c, "s", "STATUS INBOX (UIDVALIDITY UIDNEXT)")
    obs = instance.login(U3, P3)
    ok(obs, "s", "SELECT INBOX")
    ok(c, "ri", "RENAME INBOX old-inbox")
    lines2, _ = ok(c, "s2", "STATUS INBOX (MESSAGES UIDVALIDITY)")
    assert b"MESSAGES 0" in lines2[0]
    assert lines[0].split(b"UIDVALIDITY ")[1].split()[0] in lines2[0]
    lines, _ = ok(c, "s3", "STATUS old-inbox (MESSAGES)")
    assert lines == [b'* STATUS "old-inbox" (MESSAGES 3)']
    lines, _ = ok(obs, "n", "NOOP")
    assert lines == [b"* 3 EXPUNGE", b"* 2 EXPUNGE", b"* 1 EXPUNGE"], lines
    obs.close()
    c.close()


def test_delete_selected_elsewhere(instance):
    """A mailbox deleted under another session ends that session with BYE;
    the deleting session itself just deselects."""
    c = instance.login(U3, P3)
    other = instance.login(U3, P3)
    ok(c, "c", "CREATE doomed")
    ok(other, "s", "SELECT doomed")
    ok(c, "s", "SELECT doomed")
    ok(c, "d", "DELETE doomed")
    other.send(b"n NOOP\r\n")
    lines = other.read_eof()
    assert b"* BYE Selected mailbox was deleted" in lines, lines
    bad(c, "f", "FETCH 1 FLAGS")  # no longer selected
    ok(c, "n", "NOOP")
    c.close()


def test_subscribe(instance):
    c = instance.login(U3, P3)
    ok(c, "s", "SUBSCRIBE nonexistent/name")  # allowed (RFC 9051 6.3.7)
    assert lst(c, 'LSUB "" "nonexistent*"')[-1] == \
        b'* LSUB () "/" "nonexistent/name"'
    ok(c, "u", "UNSUBSCRIBE nonexistent/name")
    assert lst(c, 'LSUB "" "nonexistent*"') == []
    c.close()


def test_mailbox_name_encoding(instance):
    """Modified UTF-7 for IMAP4rev1 clients; UTF-8 after ENABLE
    UTF8=ACCEPT or IMAP4rev2; both name the same mailbox."""
    c = instance.login(U3, P3)
    # RFC 3501 5.1.3: "~peter/mail/台北/日本語"
    ok(c, "c", 'CREATE "~peter/mail/&U,BTFw-/&ZeVnLIqe-"')
    ok(c, "c2", 'CREATE "Entw&APw-rfe"')
    ok(c, "c3", 'CREATE "a&-b"')  # '&' itself
    lines = lst(c, 'LIST "" "~peter/mail/*"')
    assert lines[-1] == b'* LIST (\\HasNoChildren) "/" ' \
                        b'"~peter/mail/&U,BTFw-/&ZeVnLIqe-"', lines
    no(c, "b", 'CREATE "bad&Jjo"', "CANNOT")  # unterminated shift
    no(c, "b2", 'CREATE "bad&AGE-"', "CANNOT")  # shifted ASCII
    u = instance.login(U3, P3)
    ok(u, "e", "ENABLE UTF8=ACCEPT")
    lines = lst(u, 'LIST "" "Entw*"')
    assert lines == ['* LIST (\\HasNoChildren) "/" "Entwürfe"'.encode()]
    lines = lst(u, 'LIST "" "a&b"')
    assert lines == [b'* LIST (\\HasNoChildren) "/" "a&b"'], lines
    u.send('s SELECT "Entwürfe"\r\n'.encode())
    assert u.read_until_tagged("s")[-1].startswith(b"s OK")
    u.close()
    c.close()
