// A TCP proxy between the service and a PostgreSQL server that loses the connection right after a
// COMMIT has been sent: the COMMIT reaches the server (the transaction commits), the client's socket is
// closed at once (it sees "Connection terminated unexpectedly" instead of the answer). That is a
// failover's worst moment for the writer: it cannot tell whether its transaction committed.
//
// It reads the frontend protocol (client → server) just enough to recognize statements: simple
// queries ('Q'), parses ('P') and binds ('B') of named prepared statements. Only transactions that
// update `webhook_events` (the ledger's writes end with the inbox row's outcome) are cut, `every`-th
// one of them, `cuts` times once armed. All traffic stays on 127.0.0.1.
import net from 'node:net';

export type CommitCuttingProxy = {
  port: number;
  /** Start cutting: every `every`-th ledger COMMIT from now on, `cuts` times. */
  arm(opts: { cuts: number; every: number }): void;
  /** COMMITs of ledger transactions seen, and those cut. */
  stats(): { ledgerCommits: number; cut: number };
  close(): Promise<void>;
};

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export async function startCommitCuttingProxy(target: { host: string; port: number }): Promise<CommitCuttingProxy> {
  let armed: { cuts: number; every: number; seen: number } | null = null;
  let ledgerCommits = 0;
  let cut = 0;
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.on('data', (d: Buffer) => {
      if (!client.destroyed) client.write(d);
    });
    upstream.on('end', () => client.end());
    client.on('end', () => upstream.end());

    let pending = Buffer.alloc(0);
    let startup = true;
    let severed = false;
    const statements = new Map<string, string>();
    let inTransaction = false;
    let ledger = false;

    const textOf = (type: string, body: Buffer): string | null => {
      const cstr = (from: number) => {
        const end = body.indexOf(0, from);
        return { s: body.toString('utf8', from, end < 0 ? body.length : end), next: end + 1 };
      };
      if (type === 'Q') return cstr(0).s;
      if (type === 'P') {
        const name = cstr(0);
        const text = cstr(name.next).s;
        statements.set(name.s, text);
        return text;
      }
      if (type === 'B') {
        const portal = cstr(0);
        return statements.get(cstr(portal.next).s) ?? null;
      }
      return null;
    };

    client.on('data', (chunk: Buffer) => {
      if (severed) return;
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (startup) {
          if (pending.length < 8) return;
          const len = pending.readInt32BE(0);
          if (pending.length < len) return;
          const code = pending.readInt32BE(4);
          upstream.write(pending.subarray(0, len));
          pending = pending.subarray(len);
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
          continue;
        }
        if (pending.length < 5) return;
        const type = String.fromCharCode(pending[0]!);
        const len = pending.readInt32BE(1);
        if (pending.length < len + 1) return;
        const message = pending.subarray(0, len + 1);
        pending = pending.subarray(len + 1);
        const text = textOf(type, message.subarray(5));
        let sever = false;
        if (text !== null) {
          if (/^\s*begin\b/i.test(text)) {
            inTransaction = true;
            ledger = false;
          } else if (inTransaction && /^\s*update\b/i.test(text) && /webhook_events/.test(text)) {
            ledger = true;
          } else if (/^\s*(commit|rollback)\b/i.test(text)) {
            if (ledger && /^\s*commit/i.test(text)) {
              ledgerCommits++;
              if (armed && armed.cuts > 0 && ++armed.seen % armed.every === 0) {
                armed.cuts--;
                cut++;
                sever = true;
              }
            }
            inTransaction = false;
            ledger = false;
          }
        }
        upstream.write(message);
        if (sever) {
          // the COMMIT is on its way to the server; the client never hears back
          severed = true;
          client.destroy();
          // the server gets the time to commit, then its side goes too
          setTimeout(() => upstream.destroy(), 1000).unref();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    arm(opts) {
      armed = { ...opts, seen: 0 };
    },
    stats: () => ({ ledgerCommits, cut }),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
