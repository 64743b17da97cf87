// Redis memory: BullMQ needs maxmemory-policy noeviction, or a full Redis silently evicts queued jobs
// after their webhooks were acknowledged. At start-up the service (NODE_ENV=production) refuses an
// evicting Redis, also when CONFIG is not allowed (the policy is read from INFO memory); in
// development it starts with a warning; /readyz shows checks.redis_policy. Then the real thing: a Redis
// of the test's own with a small maxmemory and noeviction is filled until it refuses writes (OOM),
// signed deliveries arrive and are answered 503 with Retry-After (never 500, never 200 without a job),
// memory is freed, the "gateway" retries, and every acknowledged event is processed exactly once.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { paymentJobId } from '../../src/queue/queues.js';
import { createTestDatabase } from '../support/db.js';
import { gatewayEnv, makeSales, paymentDelivery, pool, prng, type Delivery } from '../support/deliveries.js';
import { spawnService, stopAllServices } from '../support/processes.js';
import { startTempRedis, type TempRedis } from '../support/temp-redis.js';
import { deploy, drained, expectedRewards, ledgerFigures, PARTNERS, queueCounts, report, type Deployment } from './harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SECRETS_KEY = randomBytes(32).toString('base64');
const BEFORE = 400;
/** Deliveries while Redis is at its maxmemory, then while it is over it. */
const AT_LIMIT = 150;
const OVER_LIMIT = 150;
const DURING = AT_LIMIT + OVER_LIMIT;
const MAXMEMORY = '48mb';
const LANES = 8;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {});
  await stopAllServices();
});

/** `npm start` with this environment, expected to refuse to start: its exit code and output (bounded). */
function startExpectingRefusal(env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

/** A user allowed everything but CONFIG (as managed Redis services hand out). */
async function userWithoutConfig(server: TempRedis): Promise<string> {
  const admin = new Redis(server.url);
  await admin.call('ACL', 'SETUSER', 'ledger', 'on', '>ledger-pass', '~*', '&*', '+@all', '-config');
  admin.disconnect();
  return `redis://ledger:ledger-pass@127.0.0.1:${server.port}`;
}

async function readyz(url: string): Promise<{ status: number; body: { checks?: Record<string, string>; error?: { message: string } } }> {
  const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as never };
}

describe('Redis memory', () => {
  it('start-up: production refuses an evicting Redis (CONFIG GET or INFO memory), development warns, /readyz shows the policy', async () => {
    const lru = await startTempRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] });
    cleanups.push(() => lru.destroy());
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const noConfigUrl = await userWithoutConfig(lru);
    const base = { DATABASE_URL: db.url, QUEUE_PREFIX: `plmem${randomBytes(3).toString('hex')}`, ...gatewayEnv() };

    const refused = await startExpectingRefusal({ ...base, REDIS_URL: lru.url, NODE_ENV: 'production', SECRETS_KEY });
    const refusedNoConfig = await startExpectingRefusal({ ...base, REDIS_URL: noConfigUrl, NODE_ENV: 'production', SECRETS_KEY });
    const dev = await spawnService({ ...base, REDIS_URL: noConfigUrl }, { role: 'api', name: 'api-dev' });
    const devReady = await readyz(dev.url);
    const devWarning = dev.output().split('\n').find((l) => l.includes('maxmemory-policy allkeys-lru')) ?? '';
    await dev.stop();

    report('redis-memory-startup', {
      production: { exitCode: refused.code, seconds: refused.ms / 1000, line: refused.output.trim().split('\n').pop() },
      productionConfigRefused: { exitCode: refusedNoConfig.code, line: refusedNoConfig.output.trim().split('\n').pop() },
      development: { readyz: devReady.status, checks: devReady.body.checks, warned: devWarning.length > 0 },
    });
    for (const r of [refused, refusedNoConfig]) {
      expect(r.code).toBe(1);
      expect(r.output).toMatch(/partner-ledger: Redis at redis:\/\/.* has maxmemory-policy allkeys-lru: .*set maxmemory-policy noeviction/);
      expect(r.output).not.toContain('ledger-pass');
    }
    expect(devReady.status).toBe(200);
    expect(devReady.body.checks).toEqual({ postgres: 'ok', redis: 'ok', redis_policy: 'allkeys-lru' });
    expect(JSON.parse(devWarning)).toMatchObject({ level: 40, policy: 'allkeys-lru', source: 'info' });
  });

  it(`a full Redis (maxmemory ${MAXMEMORY}, noeviction): deliveries are 503 with Retry-After, none acknowledged without its job; once memory is freed every event is processed exactly once`, { timeout: 420_000 }, async () => {
    const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000);
    const redis = await startTempRedis({ args: ['--maxmemory', MAXMEMORY] });
    cleanups.push(() => redis.destroy());
    const dep: Deployment = await deploy({ workers: 1, redisUrl: redis.url, env: { NODE_ENV: 'production', SECRETS_KEY } });
    cleanups.unshift(() => dep.stop());
    const admin = new Redis(redis.url);
    cleanups.unshift(async () => admin.disconnect());

    // production: ready on noeviction; not ready the moment someone switches the policy to evicting
    const readyBefore = await readyz(dep.api.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const readyEvicting = await readyz(dep.api.url);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    const readyAgain = await readyz(dep.api.url);

    const sales = makeSales(BEFORE + DURING, { tag: `m${seed.toString(36)}`, random: prng(seed), partners: PARTNERS, customers: 300 });
    const deliveries = sales.map(paymentDelivery);
    const statuses: Record<string, number> = {};
    const acked = new Set<Delivery>();
    const refusedWithoutRetryAfter: string[] = [];
    const deliver = async (d: Delivery) => {
      let status = 0;
      let retryAfter: string | null = null;
      try {
        const res = await fetch(`${dep.api.url}/webhooks/${d.gateway}`, {
          method: 'POST',
          body: new Uint8Array(d.body),
          headers: d.headers(),
          signal: AbortSignal.timeout(15_000),
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        await res.arrayBuffer();
      } catch {
        // no answer (a network error or the timeout): status 0
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) acked.add(d);
      if (status === 503 && !retryAfter) refusedWithoutRetryAfter.push(d.eventId);
      return status;
    };

    // before: all acknowledged and processed
    await pool(deliveries.slice(0, BEFORE), LANES, deliver);
    expect(acked.size).toBe(BEFORE);
    await drained(dep, BEFORE, 120_000);

    // fill Redis with other keys until it refuses writes: big values, then smaller ones (a big SET is
    // refused while its own query buffer counts, leaving room below maxmemory that small jobs would use)
    let fillKeys = 0;
    let oomError = '';
    for (const size of [512 * 1024, 16 * 1024, 512, 16]) {
      const chunk = 'x'.repeat(size);
      for (let i = 0; i < 2000; i++) {
        try {
          await admin.set(`filler:${fillKeys}`, chunk);
          fillKeys++;
        } catch (err) {
          oomError = (err as Error).message;
          break;
        }
      }
    }
    const usedMemory = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
    const atLimit = await usedMemory();
    const fullAt = Date.now();

    /** Deliver `list` while Redis is full: the answers, the 2xx without a job, what the inbox kept of the refused. */
    const whileFull = async (list: Delivery[]) => {
      const answers: Record<string, number> = {};
      await pool(list, LANES, async (d) => {
        const s = await deliver(d);
        answers[s] = (answers[s] ?? 0) + 1;
      });
      const ackedWithoutJob: string[] = [];
      for (const d of list.filter((x) => acked.has(x))) {
        if (!(await dep.queue.getJob(paymentJobId(dep.programId, d.gateway, d.eventId)))) ackedWithoutJob.push(d.eventId);
      }
      const refusedIds = list.filter((d) => !acked.has(d)).map((d) => d.eventId);
      const rows = refusedIds.length
        ? ((
            await dep.db.db.execute(
              sql`select status::text, count(*)::int as n from webhook_events where event_id in (${sql.join(refusedIds.map((id) => sql`${id}`), sql`, `)}) group by 1`,
            )
          ).rows as { status: string; n: number }[])
        : [];
      return { answers, ackedWithoutJob, refusedKeptInInbox: Object.fromEntries(rows.map((r) => [r.status, r.n])) };
    };

    // 1. at the limit: memory comes and goes by a few kilobytes (client buffers), and other keys keep
    // taking it, as whatever filled Redis would; a delivery is accepted when its job fits, else 503
    let pressing = true;
    let takenAtLimit = 0;
    const press = (async () => {
      while (pressing) {
        try {
          await admin.set(`filler:${fillKeys}`, 'x'.repeat(64));
          fillKeys++;
          takenAtLimit++;
        } catch {
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    })();
    const atTheLimit = await whileFull(deliveries.slice(BEFORE, BEFORE + AT_LIMIT));
    pressing = false;
    await press;

    // 2. over the limit: a script that has written once may go on writing past maxmemory (Redis does not
    // stop a script halfway), so one that starts just below it leaves Redis 2 MB over: every write refused
    let overfill = '';
    for (let tries = 0; tries < 2000 && !overfill; tries++) {
      await admin
        .eval("for i = 1, 32 do redis.call('SET', KEYS[1] .. i, string.rep('x', 65536)) end return 'ok'", 1, 'filler:over:')
        .then(() => (overfill = 'ok'), () => new Promise((r) => setTimeout(r, 5)));
    }
    const overLimit = await usedMemory();
    const overTheLimit = await whileFull(deliveries.slice(BEFORE + AT_LIMIT));
    // stay full a little longer: the worker and the sweeper meet the OOM errors too
    await new Promise((r) => setTimeout(r, 5000));
    const aliveWhileFull = [dep.api, ...dep.workers].every((p) => p.alive());
    const oomLogLines = dep.api.output().split('\n').filter((l) => l.includes('queue unavailable') && l.includes('OOM')).length;

    // free the memory; the gateway retries what was refused, with backoff, until it is acknowledged
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [nextCursor, found] = await admin.scan(cursor, 'MATCH', 'filler:*', 'COUNT', 1000);
      cursor = nextCursor;
      keys.push(...found);
    } while (cursor !== '0');
    for (let i = 0; i < keys.length; i += 500) await admin.del(...keys.slice(i, i + 500));
    const fullSeconds = (Date.now() - fullAt) / 1000;
    const freedAt = Date.now();
    let rounds = 0;
    const retryStatuses: Record<string, number> = {};
    for (; rounds < 20 && acked.size < BEFORE + DURING; rounds++) {
      await new Promise((r) => setTimeout(r, 500 * 2 ** Math.min(rounds, 3)));
      await pool(
        deliveries.filter((d) => !acked.has(d)),
        LANES,
        async (d) => {
          const s = await deliver(d);
          retryStatuses[s] = (retryStatuses[s] ?? 0) + 1;
        },
      );
    }
    const drain = await drained(dep, BEFORE + DURING, 240_000);
    const ledger = await ledgerFigures(dep.db.db);
    const q = await queueCounts(dep.queue);
    const alive = [dep.api, ...dep.workers].every((p) => p.alive());

    report('redis-memory-oom', {
      seed,
      maxmemory: MAXMEMORY,
      readyz: {
        noeviction: [readyBefore.status, readyBefore.body.checks?.redis_policy],
        switchedToAllkeysLru: [readyEvicting.status, readyEvicting.body.error?.message],
        backToNoeviction: [readyAgain.status, readyAgain.body.checks?.redis_policy],
      },
      fill: { keys: fillKeys, usedMemoryAtLimit: atLimit, keysTakenAtLimit: takenAtLimit, usedMemoryOverLimit: overLimit, error: oomError.slice(0, 80) },
      atTheLimit: { ...atTheLimit, ackedWithoutJob: atTheLimit.ackedWithoutJob.length },
      overTheLimit: { ...overTheLimit, ackedWithoutJob: overTheLimit.ackedWithoutJob.length },
      refusedWithoutRetryAfter: refusedWithoutRetryAfter.length,
      oomLogLines,
      aliveWhileFull,
      fullSeconds,
      retryRounds: rounds,
      retryStatuses,
      allAnswers: statuses,
      drainedSecondsAfterFreeing: (Date.now() - freedAt) / 1000,
      inbox: drain.inbox,
      jobs: { completed: q.completed, failed: q.failed },
      transactions: ledger.transactions,
      rewards: ledger.rewards,
      transactionsWithSeveralRewards: ledger.transactionsWithSeveralRewards,
      alive,
    });

    expect(readyBefore).toMatchObject({ status: 200, body: { checks: { redis_policy: 'noeviction' } } });
    expect(readyEvicting).toMatchObject({ status: 503, body: { checks: { redis_policy: 'allkeys-lru' } } });
    expect(readyAgain.status).toBe(200);
    expect(oomError).toMatch(/^OOM command not allowed when used memory > 'maxmemory'/);
    // only 200 and 503 at any time: never a 500, never a dropped connection
    expect(Object.keys(statuses).sort()).toEqual(['200', '503']);
    expect(overfill).toBe('ok');
    expect(overLimit).toBeGreaterThan(48 * 1024 * 1024);
    // at the limit some fit and some do not; over it, none: 503, with Retry-After, every one
    expect(atTheLimit.answers['503']).toBeGreaterThan(0);
    expect(overTheLimit.answers).toEqual({ 503: OVER_LIMIT });
    expect(refusedWithoutRetryAfter).toEqual([]);
    expect([...atTheLimit.ackedWithoutJob, ...overTheLimit.ackedWithoutJob]).toEqual([]);
    expect(aliveWhileFull && alive).toBe(true);
    expect(acked.size).toBe(BEFORE + DURING);
    expect(drain.inbox).toEqual({ processed: BEFORE + DURING });
    expect(q.failed).toBe(0);
    expect(ledger.transactions).toBe(BEFORE + DURING);
    expect(ledger.rewards).toBe(BEFORE + DURING);
    expect(ledger.transactionsWithSeveralRewards).toBe(0);
    expect(ledger.rewardTotals).toEqual(expectedRewards(sales));
  });
});
