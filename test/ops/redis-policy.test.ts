// Redis's maxmemory-policy: BullMQ needs noeviction (an evicting Redis drops queued jobs when full).
// Read with CONFIG GET, or from INFO memory where CONFIG is refused (managed Redis: here an ACL user
// without +config); refused at start-up in production, a warning otherwise, a warning when nothing
// can read it; shown in /readyz as checks.redis_policy, not ready in production when it is wrong.
// On Redis servers of this file's own (the shared one is never reconfigured).
import { Redis } from 'ioredis';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { healthRouter } from '../../src/http/health.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { checkRedisPolicy, StartupError } from '../../src/preflight.js';
import { producerConnection } from '../../src/queue/redis.js';
import { evictionPolicyReader, readEvictionPolicy } from '../../src/redis-policy.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startTempRedis, type TempRedis } from '../support/temp-redis.js';

let lru: TempRedis;
let strict: TempRedis;
let db: TestDatabase;
const clients: Redis[] = [];

/** A user of `server` allowed everything but the given commands (as a managed Redis hands out). */
async function restrictedUrl(server: TempRedis, name: string, denied: string[]): Promise<string> {
  const admin = new Redis(server.url);
  await admin.call('ACL', 'SETUSER', name, 'on', '>ledger-pass', '~*', '&*', '+@all', ...denied.map((c) => `-${c}`));
  admin.disconnect();
  return `redis://${name}:ledger-pass@127.0.0.1:${server.port}`;
}
function connection(url: string): Redis {
  const c = producerConnection(url);
  c.on('error', () => {});
  clients.push(c);
  return c;
}
const ready = (c: Redis) => new Promise<void>((resolve) => (c.status === 'ready' ? resolve() : c.once('ready', () => resolve())));
/** A logger that keeps its lines (pino levels: 40 warn). */
function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

beforeAll(async () => {
  [lru, strict, db] = await Promise.all([
    startTempRedis({ args: ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'] }),
    startTempRedis(),
    createTestDatabase(),
  ]);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all([lru?.destroy(), strict?.destroy(), db?.drop()]);
});

describe('reading the policy', () => {
  it('with CONFIG GET, or from INFO memory where CONFIG is refused; null when neither is allowed', async () => {
    const plain = connection(lru.url);
    const noConfig = connection(await restrictedUrl(lru, 'noconfig', ['config']));
    const nothing = connection(await restrictedUrl(lru, 'nothing', ['config', 'info']));
    await Promise.all([plain, noConfig, nothing].map(ready));
    expect(await readEvictionPolicy(plain)).toEqual({ policy: 'allkeys-lru', source: 'config' });
    expect(await readEvictionPolicy(noConfig)).toEqual({ policy: 'allkeys-lru', source: 'info' });
    const none = await readEvictionPolicy(nothing);
    expect(none.policy).toBeNull();
    expect(none.policy === null && none.error).toMatch(/NOPERM/);

    // the reader /readyz uses stops asking CONFIG once it was refused
    let configCalls = 0;
    const config = noConfig.config.bind(noConfig) as (...args: unknown[]) => Promise<unknown>;
    Object.assign(noConfig, { config: (...args: unknown[]) => (configCalls++, config(...args)) });
    const reader = evictionPolicyReader(noConfig);
    expect(await reader()).toEqual({ policy: 'allkeys-lru', source: 'info' });
    expect(await reader()).toEqual({ policy: 'allkeys-lru', source: 'info' });
    expect(configCalls).toBe(1);
  });
});

describe('at start-up', () => {
  it('refuses an evicting Redis in production, naming the policy and the fix', async () => {
    const { logger } = capture();
    const url = await restrictedUrl(lru, 'app', ['config']);
    for (const REDIS_URL of [lru.url, url]) {
      const err = await checkRedisPolicy({ REDIS_URL, NODE_ENV: 'production' }, logger).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StartupError);
      expect((err as Error).message).toMatch(/has maxmemory-policy allkeys-lru: .* set maxmemory-policy noeviction/);
      // the password of the URL is never repeated
      expect((err as Error).message).not.toContain('ledger-pass');
    }
  });

  it('warns loudly outside production, and starts', async () => {
    const { logger, lines } = capture();
    expect(await checkRedisPolicy({ REDIS_URL: lru.url, NODE_ENV: undefined }, logger)).toEqual({ policy: 'allkeys-lru', source: 'config' });
    expect(lines).toEqual([expect.objectContaining({ level: 40, policy: 'allkeys-lru', msg: expect.stringMatching(/NODE_ENV=production refuses to start/) })]);
  });

  it('says nothing of a noeviction Redis; warns and goes on when the policy cannot be read at all', async () => {
    const quiet = capture();
    expect(await checkRedisPolicy({ REDIS_URL: strict.url, NODE_ENV: 'production' }, quiet.logger)).toEqual({ policy: 'noeviction', source: 'config' });
    expect(quiet.lines).toEqual([]);
    const blind = capture();
    const url = await restrictedUrl(lru, 'blind', ['config', 'info']);
    expect((await checkRedisPolicy({ REDIS_URL: url, NODE_ENV: 'production' }, blind.logger)).policy).toBeNull();
    expect(blind.lines).toEqual([expect.objectContaining({ level: 40, msg: expect.stringMatching(/could not read the maxmemory-policy/) })]);
  });
});

describe('/readyz', () => {
  function app(redisUrl: string, requireNoEviction: boolean) {
    const redis = connection(redisUrl);
    return {
      redis,
      app: createApp({
        logger: createLogger('silent'),
        routers: [healthRouter({ pool: db.pool, redis, databaseUrl: db.url, redisUrl, redisPolicy: evictionPolicyReader(redis), requireNoEviction })],
      }),
    };
  }

  it('shows the policy; in production an evicting Redis is not ready', async () => {
    const prod = app(lru.url, true);
    const dev = app(lru.url, false);
    const good = app(strict.url, true);
    const blind = app(await restrictedUrl(lru, 'blind2', ['config', 'info']), true);
    await Promise.all([prod, dev, good, blind].map((a) => ready(a.redis)));

    const p = await request(prod.app).get('/readyz');
    expect(p.status).toBe(503);
    expect(p.body).toEqual({
      status: 0,
      error: { code: 'not_ready', message: 'redis maxmemory-policy is allkeys-lru (noeviction required)' },
      queue_backend: 'redis',
      checks: { postgres: 'ok', redis: 'ok', redis_policy: 'allkeys-lru' },
    });
    const d = await request(dev.app).get('/readyz');
    expect(d.status).toBe(200);
    expect(d.body.checks).toEqual({ postgres: 'ok', redis: 'ok', redis_policy: 'allkeys-lru' });
    const g = await request(good.app).get('/readyz');
    expect(g.status).toBe(200);
    expect(g.body.checks).toEqual({ postgres: 'ok', redis: 'ok', redis_policy: 'noeviction' });
    // a policy nobody may read is shown as unknown, and not held against readiness
    const b = await request(blind.app).get('/readyz');
    expect(b.status).toBe(200);
    expect(b.body.checks).toEqual({ postgres: 'ok', redis: 'ok', redis_policy: 'unknown' });
  });
});
