// Driven by test_clients_imapflow.py: reads every message of INBOX with
// imapflow (COMPRESS=DEFLATE on, as imapflow does by default), moves one to
// Archive and prints a JSON report. argv: module dir, host, port, user, pass,
// uid to move, servername.
'use strict';
const path = require('path');
const crypto = require('crypto');
const [modDir, host, port, user, pass, moveUid, servername] =
    process.argv.slice(2);
const { ImapFlow } = require(path.join(modDir, 'node_modules', 'imapflow'));

async function main() {
    const client = new ImapFlow({
        host, port: Number(port), secure: true,
        // SNI only for a name (RFC 6066 forbids an address)
        servername: servername && !/^[0-9.:]+$/.test(servername)
            ? servername : undefined,
        auth: { user, pass },
        // the suite's self-signed certificate: the test is about IMAP
        tls: { rejectUnauthorized: false },
        disableCompression: false,
        logger: false,
    });
    await client.connect();
    const report = { messages: [], compressed: !!client._deflate };
    const lock = await client.getMailboxLock('INBOX');
    try {
        for await (const m of client.fetch('1:*', {
            uid: true, envelope: true, source: true })) {
            report.messages.push({
                uid: Number(m.uid),
                subject: m.envelope.subject,
                size: m.source.length,
                sha256: crypto.createHash('sha256').update(m.source)
                    .digest('hex'),
            });
        }
        const moved = await client.messageMove(moveUid, 'Archive',
                                               { uid: true });
        report.moved = !!moved;
        report.left = (await client.search({ all: true }, { uid: true }))
            .map(Number);
    } finally {
        lock.release();
    }
    const st = await client.status('Archive', { messages: true });
    report.archive = Number(st.messages);
    await client.logout();
    process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => {
    process.stderr.write('imapflow failed: ' + (err.stack || err) + '\n');
    process.exit(1);
});
