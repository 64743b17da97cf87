// A Redis server of the test's own, on its own port and data folder, with the append-only file on
// (as docker-compose runs Redis), so a test can stop it and start it again without losing the queue.
// The machine's shared Redis (6379) is never touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

export type TempRedis = {
  url: string;
  port: number;
  dir: string;
  running(): boolean;
  /** Start it (again), on the same port and data folder; resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM (Redis syncs the append-only file and exits) or SIGKILL (a crash). */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Stop it for good and remove its data folder. */
  destroy(): Promise<void>;
};

export type TempRedisOptions = {
  /** More redis-server settings, after (so over) the ones above: `['--maxmemory', '32mb']`. */
  args?: string[];
};

export async function startTempRedis(opts: TempRedisOptions = {}): Promise<TempRedis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pl-redis-'));
  dirs.add(dir);
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const redis: TempRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    running: () => child !== null,
    async start() {
      if (child) return;
      const c = spawn(
        'redis-server',
        [
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--dir', dir,
          '--appendonly', 'yes',
          '--appendfsync', 'everysec',
          '--save', '',
          '--maxmemory-policy', 'noeviction',
          '--daemonize', 'no',
          ...(opts.args ?? []),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
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
      // a start (and a restart replaying its append-only file) on 2 loaded cores: the wait is for the
      // server to answer, bounded, not a judgement of how fast it starts
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (!child) throw new Error(`redis-server on ${port} exited: ${log}`);
        const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
        client.on('error', () => {});
        const ok = await client
          .connect()
          .then(() => client.ping())
          .then((p) => p === 'PONG')
          .catch(() => false)
          .finally(() => client.disconnect());
        // loading the append-only file answers LOADING; PING then fails
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer: ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop(signal = 'SIGTERM') {
      if (!child) return;
      child.kill(signal);
      await exited;
    },
    async destroy() {
      await redis.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  await redis.start();
  return redis;
}
