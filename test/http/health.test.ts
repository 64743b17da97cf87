import type { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { healthRouter } from '../../src/http/health.js';
import { createLogger } from '../../src/logger.js';
import { producerConnection } from '../../src/queue/redis.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { freePort } from '../support/ports.js';

let t: TestDatabase;
const clients: Redis[] = [];
const pools: pg.Pool[] = [];
const USER = 'ops';
const PASSWORD = 'dash-health-test';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const p of pools) await p.end();
  await t.drop();
});

function appWith(redisUrl: string, postgres: { pool: pg.Pool; url: string } = { pool: t.pool, url: t.url }) {
  const redis = producerConnection(redisUrl);
  redis.on('error', () => {});
  clients.push(redis);
  return createApp({
    logger: createLogger('silent'),
    routers: [
      healthRouter({ pool: postgres.pool, redis, databaseUrl: postgres.url, redisUrl, dashboardUser: USER, dashboardPassword: PASSWORD }),
    ],
  });
}

/** Until a Redis client has connected (the producer connection queues nothing before that). */
const connected = (redis: Redis) => new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));

/** A database URL (with a password) where nothing answers. */
async function deadPostgres() {
  const url = `postgres://ledger:pg-secret@127.0.0.1:${await freePort()}/ledger_prod`;
  const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: 1000 });
  pool.on('error', () => {});
  pools.push(pool);
  return { pool, url };
}

describe('health endpoints', () => {
  it('/healthz answers while the process is alive', async () => {
    const res = await request(appWith(TEST_REDIS_URL)).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 when Postgres and Redis both answer', async () => {
    const app = appWith(TEST_REDIS_URL);
    await new Promise((r) => setTimeout(r, 100));
    const res = await request(app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body.checks).toEqual({ postgres: 'ok', redis: 'ok' });
  });

  it('/readyz is 503 naming Redis when Redis does not answer; its URL only to the dashboard credentials', async () => {
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const app = appWith(deadRedis);
    for (const authorization of [undefined, basic(USER, 'wrong'), `Bearer ${PASSWORD}`]) {
      const req = request(app).get('/readyz');
      const res = await (authorization ? req.set('authorization', authorization) : req);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({
        status: 0,
        error: { code: 'not_ready', message: 'not answering: redis' },
        queue_backend: 'redis',
        checks: { postgres: 'ok', redis: 'down' },
      });
    }
    const res = await request(app).get('/readyz').set('authorization', basic(USER, PASSWORD));
    expect(res.status).toBe(503);
    expect(res.body.error).toEqual({ code: 'not_ready', message: `not answering: redis (${deadRedis})` });
    expect(res.body.checks).toEqual({ postgres: 'ok', redis: 'down' });
  });

  it('/readyz is 503 naming Postgres when it does not answer; host and database only to the dashboard credentials', async () => {
    const dead = await deadPostgres();
    const app = appWith(TEST_REDIS_URL, dead);
    await connected(clients.at(-1)!);
    const anonymous = await request(app).get('/readyz');
    expect(anonymous.status).toBe(503);
    expect(anonymous.body.error).toEqual({ code: 'not_ready', message: 'not answering: postgres' });
    expect(anonymous.body.checks).toEqual({ postgres: 'down', redis: 'ok' });
    expect(JSON.stringify(anonymous.body)).not.toMatch(/127\.0\.0\.1|ledger_prod|pg-secret/);

    const operator = await request(app).get('/readyz').set('authorization', basic(USER, PASSWORD));
    expect(operator.status).toBe(503);
    const port = new URL(dead.url).port;
    expect(operator.body.error.message).toBe(`not answering: postgres (postgres://ledger:***@127.0.0.1:${port}/ledger_prod)`);
    expect(JSON.stringify(operator.body)).not.toContain('pg-secret');
  });

  it('/readyz details are no way around the dashboard\'s failed-login limit', async () => {
    const app = appWith(TEST_REDIS_URL, await deadPostgres());
    await connected(clients.at(-1)!);
    const from = (address: string, authorization: string) => request(app).get('/readyz').set('x-forwarded-for', address).set('authorization', authorization);
    for (let i = 0; i < 10; i++) expect((await from('203.0.113.20', basic(USER, `guess-${i}`))).body.error.message).toBe('not answering: postgres');
    // limited: even the right pair is not told more
    expect((await from('203.0.113.20', basic(USER, PASSWORD))).body.error.message).toBe('not answering: postgres');
    expect((await from('203.0.113.21', basic(USER, PASSWORD))).body.error.message).toMatch(/^not answering: postgres \(postgres:/);
  });

  it('/readyz never shows the URLs while the dashboard is closed (no credentials configured)', async () => {
    const dead = await deadPostgres();
    const redis = producerConnection(TEST_REDIS_URL);
    redis.on('error', () => {});
    clients.push(redis);
    await connected(redis);
    const app = createApp({
      logger: createLogger('silent'),
      routers: [healthRouter({ pool: dead.pool, redis, databaseUrl: dead.url, redisUrl: TEST_REDIS_URL })],
    });
    for (const authorization of [basic('', ''), basic('undefined', 'undefined'), basic(':', '')]) {
      const res = await request(app).get('/readyz').set('authorization', authorization);
      expect(res.body.error.message).toBe('not answering: postgres');
    }
  });

  it('answers unknown routes and bad bodies with the error envelope and a request id', async () => {
    const res = await request(appWith(TEST_REDIS_URL)).get('/nowhere').set('x-request-id', 'req-abc.1');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ status: 0, message: 'no route for GET /nowhere', error: { code: 'not_found', message: 'no route for GET /nowhere' } });
    expect(res.headers['x-request-id']).toBe('req-abc.1');
  });
});
