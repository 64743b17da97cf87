// A machine with only Node.js: `npm start` with no PostgreSQL of its own runs an embedded one in
// DATA_DIR, keeps the data across restarts, and leaves no postgres process behind when it stops.
// An explicit DATABASE_URL is used as is.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Stripe from 'stripe';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { wantsEmbedded } from '../../src/embedded-database.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { fixture } from '../support/fixtures.js';
import { spawnService, stopAllServices, type ServiceProcess } from '../support/processes.js';
import { removePrefix, testPrefix } from '../support/redis.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SECRET = 'whsec_embedded_test';
const API_KEY = 'pl_embedded_test_key';
const stripe = new Stripe('sk_test_unused');
const dataDirs: string[] = [];
const prefixes: string[] = [];
const databases: TestDatabase[] = [];

function tempDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-embedded-'));
  dataDirs.push(dir);
  return dir;
}

/** Pids of the live processes running postgres on `dataDir` (the postmaster names its -D directory). */
function postgresProcessesOn(dataDir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (path.basename(cmdline[0] ?? '') === 'postgres' && cmdline.includes(path.join(dataDir, 'postgres'))) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

afterAll(async () => {
  await stopAllServices();
  // a failed test may leave a server behind: SIGQUIT is PostgreSQL's immediate shutdown
  for (const dir of dataDirs) {
    for (const pid of postgresProcessesOn(dir)) process.kill(pid, 'SIGQUIT');
    for (let i = 0; i < 100 && postgresProcessesOn(dir).length; i++) await new Promise((r) => setTimeout(r, 50));
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const p of prefixes) await removePrefix(p);
  for (const db of databases) await db.drop();
});

function serviceEnv(dataDir: string, extra: Record<string, string> = {}) {
  const prefix = testPrefix();
  prefixes.push(prefix);
  return {
    DATA_DIR: dataDir,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    STRIPE_WEBHOOK_SECRET: SECRET,
    API_KEY,
    ...extra,
  };
}

async function transactions(url: string): Promise<{ key: string; amount: number }[]> {
  const res = await fetch(`${url}/v1/transactions`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { key: string; amount: number }[] }).data;
}

/** /readyz answers once the API listens; the summary line comes once the worker runs too. */
async function started(svc: ServiceProcess): Promise<string> {
  for (let i = 0; i < 600 && !svc.output().includes('"summary":true'); i++) await new Promise((r) => setTimeout(r, 100));
  return svc.output();
}

/** A signed Stripe payment posted as Stripe would; the transactions once the worker booked it. */
async function bookPayment(url: string) {
  const body = fixture('stripe', 'payment_intent.succeeded.json');
  const res = await fetch(`${url}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret: SECRET }) },
    body,
  });
  expect(res.status).toBe(200);
  let booked: { key: string; amount: number }[] = [];
  for (let i = 0; i < 300 && booked.length === 0; i++) {
    booked = await transactions(url);
    if (booked.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  return booked.map((t) => [t.key, t.amount]);
}

function cli(args: string[], env: Record<string, string>) {
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
}

describe('DATABASE_URL=embedded', { timeout: 300_000 }, () => {
  it('runs the service on an embedded PostgreSQL in DATA_DIR, kept across restarts, stopped with the service', async () => {
    const dataDir = tempDataDir();
    const env = serviceEnv(dataDir, { DATABASE_URL: 'embedded' });
    // first start: initdb (up to ~30 s on two busy cores)
    const first = await spawnService(env, { role: 'all', readyTimeoutMs: 180_000 });
    const output = await started(first);
    const line = output.match(/"msg":"database: embedded PostgreSQL \(([^,]+), port (\d+)\)"/);
    expect(line, output).not.toBeNull();
    expect(line![1]).toBe(path.join(dataDir, 'postgres'));
    expect(output).toContain(`stores: embedded PostgreSQL (${path.join(dataDir, 'postgres')}, port ${line![2]})`);
    expect(postgresProcessesOn(dataDir)).toHaveLength(1);

    expect(await bookPayment(first.url)).toEqual([['pi_3RbT7yHk2QwLm9Xa0c4VnE1s', 49]]);

    // the CLI finds the running server and leaves it running
    const listed = await cli(['keys:list'], env);
    expect(listed.stdout).toContain('API_KEY');
    expect(listed.stderr).toContain('already running');
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    const exit = await first.stop(30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.output()).toContain('"msg":"embedded PostgreSQL stopped"');
    expect(postgresProcessesOn(dataDir)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);

    // with the service stopped, a CLI command starts the server for itself and stops it after
    const alone = await cli(['keys:list'], env);
    expect(alone.stdout).toContain('API_KEY');
    expect(alone.stderr).toContain('started for this command and stopped after it');
    expect(postgresProcessesOn(dataDir)).toEqual([]);

    const second = await spawnService(env, { role: 'all', readyTimeoutMs: 180_000 });
    expect(second.output()).not.toContain('initialising the embedded PostgreSQL');
    expect((await transactions(second.url)).map((t) => [t.key, t.amount])).toEqual([['pi_3RbT7yHk2QwLm9Xa0c4VnE1s', 49]]);
    expect(await second.stop(30_000)).toEqual({ code: 0, signal: null });
    expect(postgresProcessesOn(dataDir)).toEqual([]);
  });

  it('with the queues in it too (QUEUE_BACKEND=postgres): no PostgreSQL server and no Redis needed', async () => {
    const dataDir = tempDataDir();
    // nothing answers at REDIS_URL: the service must never need it
    const env = serviceEnv(dataDir, { DATABASE_URL: 'embedded', QUEUE_BACKEND: 'postgres', REDIS_URL: 'redis://127.0.0.1:1' });
    const svc = await spawnService(env, { role: 'all', readyTimeoutMs: 180_000 });
    const output = await started(svc);
    expect(output).toContain('(ledger, and the BullMQ queues in schema bullmq: QUEUE_BACKEND=postgres, no Redis)');
    expect(await (await fetch(`${svc.url}/readyz`)).json()).toMatchObject({ status: 'ready', queue_backend: 'postgres' });
    expect(await bookPayment(svc.url)).toEqual([['pi_3RbT7yHk2QwLm9Xa0c4VnE1s', 49]]);
    expect(await svc.stop(30_000)).toEqual({ code: 0, signal: null });
    expect(postgresProcessesOn(dataDir)).toEqual([]);
  });

  it('stops the embedded PostgreSQL when the service fails to start', async () => {
    const dataDir = tempDataDir();
    // Redis down: the database is up first, then start-up fails on Redis
    const env = serviceEnv(dataDir, { DATABASE_URL: 'embedded', REDIS_URL: 'redis://127.0.0.1:1' });
    await expect(spawnService(env, { role: 'all', readyTimeoutMs: 180_000 })).rejects.toThrow(/cannot reach Redis/);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    expect(postgresProcessesOn(dataDir)).toEqual([]);
  });

  it('uses an explicit DATABASE_URL as is, starting nothing', async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const dataDir = tempDataDir();
    const svc = await spawnService(serviceEnv(dataDir, { DATABASE_URL: db.url }), { role: 'all' });
    expect(await started(svc)).toContain(`stores: PostgreSQL ${db.url}`);
    expect(svc.output()).not.toContain('embedded PostgreSQL');
    expect(fs.readdirSync(dataDir)).toEqual([]);
    expect(await svc.stop(30_000)).toEqual({ code: 0, signal: null });
  });
});

describe('which PostgreSQL', () => {
  const nothingAnswers = async () => false;
  const somethingAnswers = async () => true;

  it('reads DATABASE_URL=embedded and DATA_DIR (default ./.data)', () => {
    expect(loadConfig({}).DATA_DIR).toBe('.data');
    const c = loadConfig({ DATABASE_URL: 'embedded', DATA_DIR: '/srv/partner-ledger' });
    expect([c.DATABASE_URL, c.DATA_DIR]).toEqual(['embedded', '/srv/partner-ledger']);
    expect(() => loadConfig({ DATABASE_URL: 'embeded' })).toThrow(/DATABASE_URL=.*a URL starting with postgres:\/\/ or postgresql:\/\/, or embedded/);
  });

  it('is the embedded one when DATABASE_URL is unset and nothing answers at 127.0.0.1:5432', async () => {
    expect(await wantsEmbedded(loadConfig({}), {}, nothingAnswers)).toBe(true);
  });

  it("is the default address's when something answers there", async () => {
    expect(await wantsEmbedded(loadConfig({}), {}, somethingAnswers)).toBe(false);
  });

  it('is DATABASE_URL when set, answering or not; embedded when it says so', async () => {
    const explicit = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5999/x' };
    expect(await wantsEmbedded(loadConfig(explicit), explicit, nothingAnswers)).toBe(false);
    const embedded = { DATABASE_URL: 'embedded' };
    expect(await wantsEmbedded(loadConfig(embedded), embedded, somethingAnswers)).toBe(true);
  });
});
