// A PostgreSQL server of the test's own: initdb in a temporary folder, its own port, stopped and
// started at will. PostgreSQL refuses to run as root, so under root it runs as the `postgres` user
// (the folder is handed to it). The machine's shared PostgreSQL (5432) is never touched.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Where this machine's PostgreSQL binaries are (Debian keeps them per major version). */
function binDir(): string {
  for (const candidate of ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin']) {
    if (existsSync(path.join(candidate, 'initdb'))) return candidate;
  }
  return path.dirname(execFileSync('which', ['initdb']).toString().trim());
}

/** Run as the postgres user when we are root. */
function identity(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export type TempPostgres = {
  port: number;
  /** A database URL on this server (the database is created by the service, or by `createDatabase`). */
  url(database: string): string;
  running(): boolean;
  start(): Promise<void>;
  /** Fast shutdown (SIGINT: clients disconnected, transactions rolled back), or SIGQUIT (immediate). */
  stop(signal?: 'SIGINT' | 'SIGQUIT'): Promise<void>;
  destroy(): Promise<void>;
};

export async function startTempPostgres(): Promise<TempPostgres> {
  const bin = binDir();
  const who = identity();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pl-pg-'));
  dirs.add(dir);
  if (who.uid !== undefined) chownSync(dir, who.uid, who.gid!);
  const data = path.join(dir, 'data');
  execFileSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--locale=C'], {
    ...who,
    stdio: 'pipe',
    cwd: dir,
  });
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const server: TempPostgres = {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    running: () => child !== null,
    async start() {
      if (child) return;
      const c = spawn(
        path.join(bin, 'postgres'),
        [
          '-D', data,
          '-p', String(port),
          '-c', 'listen_addresses=127.0.0.1',
          '-c', `unix_socket_directories=${dir}`,
          // a test server: durability against an OS crash is not what is tested here
          '-c', 'fsync=off',
          '-c', 'synchronous_commit=off',
          '-c', 'full_page_writes=off',
          '-c', 'max_connections=100',
        ],
        { ...who, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      c.stdout!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
      c.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
      live.add(c);
      child = c;
      exited = new Promise<void>((resolve) =>
        c.once('exit', () => {
          live.delete(c);
          if (child === c) child = null;
          resolve();
        }),
      );
      // a start (and a restart after an outage, with a shutdown checkpoint behind it) on 2 loaded cores:
      // the wait is for the server to answer, bounded, not a judgement of how fast it starts
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (!child) throw new Error(`postgres on ${port} exited: ${log}`);
        const client = new pg.Client({ connectionString: server.url('postgres'), connectionTimeoutMillis: 1000 });
        client.on('error', () => {});
        const ok = await client
          .connect()
          .then(() => client.query('select 1'))
          .then(() => true)
          .catch(() => false)
          .finally(() => client.end().catch(() => {}));
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`postgres on ${port} did not answer: ${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(signal = 'SIGINT') {
      if (!child) return;
      const c = child;
      c.kill(signal);
      const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    async destroy() {
      await server.stop('SIGQUIT');
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  await server.start();
  return server;
}
