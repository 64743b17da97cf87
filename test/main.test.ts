// The service as a newcomer starts it: `npm start` (tsx src/main.ts) as a child process.
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_DATABASE_URL, TEST_REDIS_URL, databaseUrl } from './support/env.js';
import { scaledLimit } from './support/machine.js';
import { freePort } from './support/ports.js';
import { removePrefix, testPrefix } from './support/redis.js';

type Run = { code: number | null; stderr: string; stdout: string; ms: number };

function startMain(env: Record<string, string>) {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<Run>((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr, stdout, ms: Date.now() - started })),
  );
  return { child, exited, started, stdout: () => stdout };
}

const createdDatabases: string[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  for (const name of createdDatabases) await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
  for (const p of prefixes) await removePrefix(p);
});

/** The port the API says it listens on (it binds port 0: the system's choice). */
const listeningPort = (stdout: string) => /"port":(\d+),"msg":"api listening"/.exec(stdout)?.[1];

// #2's limits (ready within 10 s, a missing store named within 5 s) are for this machine at its usual
// speed; each is scaled by an empty program's start measured just before (test/support/machine.ts)
describe('npm start', { timeout: 240_000 }, () => {
  it('creates the database, migrates, answers /readyz within 10 s and stops cleanly on SIGTERM', async () => {
    const limit = await scaledLimit(10_000);
    const name = `pl_test_main_${Date.now()}`;
    createdDatabases.push(name);
    const prefix = testPrefix();
    prefixes.push(prefix);
    // port 0, the port read from its log: one found free here could be taken by another process
    // meanwhile (the machine is shared), and the service could not listen
    const { child, exited, started, stdout } = startMain({
      PORT: '0',
      DATABASE_URL: databaseUrl(name),
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
    });
    let ready = 0;
    while (Date.now() - started < limit.limitMs) {
      const port = listeningPort(stdout());
      const res = port ? await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null) : null;
      if (res?.status === 200) {
        ready = Date.now() - started;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`[npm start] readyz 200 after ${limit.describe(ready)}`);
    expect(ready, `readyz answered 200 within ${limit.limitMs} ms`).toBeGreaterThan(0);
    expect(ready).toBeLessThan(limit.limitMs);
    child.kill('SIGTERM');
    const run = await exited;
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"msg":"stopped"');
  });

  it('stops cleanly on a SIGTERM that comes as the API starts listening, before the worker has started', async () => {
    // /readyz answers once the API listens; an orchestrator may stop the container at that moment
    const name = `pl_test_main_early_${Date.now()}`;
    createdDatabases.push(name);
    const prefix = testPrefix();
    prefixes.push(prefix);
    const { child, exited, stdout } = startMain({
      PORT: '0',
      DATABASE_URL: databaseUrl(name),
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: prefix,
    });
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (listeningPort(stdout())) resolve();
        else if (child.exitCode !== null) reject(new Error(`exited before listening: ${stdout()}`));
        else setTimeout(check, 2);
      };
      check();
    });
    child.kill('SIGTERM');
    const run = await exited;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('"msg":"stopped"');
  });

  it('exits non-zero within 5 s with one line naming Redis when Redis is down', async () => {
    const limit = await scaledLimit(5000);
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const { exited } = startMain({ REDIS_URL: dead, DATABASE_URL: databaseUrl('postgres') });
    const run = await exited;
    console.log(`[npm start] Redis down: exit ${run.code} after ${limit.describe(run.ms)}`);
    expect(run.code).not.toBe(0);
    expect(run.ms).toBeLessThan(limit.limitMs);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^partner-ledger: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\)/);
    expect(lines[0]).toContain('docker compose -f docker-compose.yml -f docker-compose.stores.yml up -d postgres redis');
  });

  it('with QUEUE_BACKEND=postgres starts without Redis: the queues in its database, said at start and in /readyz', async () => {
    const name = `pl_test_main_pgq_${Date.now()}`;
    createdDatabases.push(name);
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const { child, exited, started, stdout } = startMain({ PORT: '0', DATABASE_URL: databaseUrl(name), REDIS_URL: closed, QUEUE_BACKEND: 'postgres' });
    let body: unknown;
    while (Date.now() - started < 120_000 && child.exitCode === null) {
      const port = listeningPort(stdout());
      const res = port ? await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null) : null;
      if (res?.status === 200) {
        body = await res.json();
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toEqual({ status: 'ready', queue_backend: 'postgres', checks: { postgres: 'ok' } });
    // the summary line only once the worker has started too
    while (Date.now() - started < 120_000 && !stdout().includes('"summary":true')) await new Promise((r) => setTimeout(r, 100));
    expect(stdout()).toMatch(/"summary":true.*the BullMQ queues in schema bullmq: QUEUE_BACKEND=postgres, no Redis/);
    child.kill('SIGTERM');
    const run = await exited;
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"msg":"stopped"');
  });

  it('exits non-zero within 5 s with one line naming PostgreSQL when it is down', async () => {
    const limit = await scaledLimit(5000);
    const port = await freePort();
    const { exited } = startMain({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/partner_ledger` });
    const run = await exited;
    console.log(`[npm start] PostgreSQL down: exit ${run.code} after ${limit.describe(run.ms)}`);
    expect(run.code).not.toBe(0);
    expect(run.ms).toBeLessThan(limit.limitMs);
    expect(run.stderr.trim().split('\n')).toEqual([
      `partner-ledger: cannot reach PostgreSQL at postgres://postgres@127.0.0.1:${port}/partner_ledger (connect ECONNREFUSED 127.0.0.1:${port}); start it, for example with: docker compose -f docker-compose.yml -f docker-compose.stores.yml up -d postgres redis`,
    ]);
  });

  it('exits with one line naming an invalid variable', async () => {
    const run = await startMain({ PROCESS_ROLE: 'everything' }).exited;
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(/^partner-ledger: invalid configuration: PROCESS_ROLE="everything": /);
  });
});
