import type { Redis } from 'ioredis';
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
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await t.drop();
});

function appWith(redisUrl: string) {
  const redis = producerConnection(redisUrl);
  redis.on('error', () => {});
  clients.push(redis);
  return createApp({
    logger: createLogger('silent'),
    routers: [healthRouter({ pool: t.pool, redis, databaseUrl: t.url, redisUrl })],
  });
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

  it('/readyz is 503 naming Redis when Redis does not answer', async () => {
    const deadRedis = `redis://127.0.0.1:${await freePort()}`;
    const res = await request(appWith(deadRedis)).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe(0);
    expect(res.body.error.code).toBe('not_ready');
    expect(res.body.error.message).toContain(`redis (${deadRedis})`);
    expect(res.body.error.message).not.toContain('postgres');
    expect(res.body.checks).toEqual({ postgres: 'ok', redis: 'down' });
  });

  it('answers unknown routes and bad bodies with the error envelope and a request id', async () => {
    const res = await request(appWith(TEST_REDIS_URL)).get('/nowhere').set('x-request-id', 'req-abc.1');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ status: 0, error: { code: 'not_found', message: 'no route for GET /nowhere' } });
    expect(res.headers['x-request-id']).toBe('req-abc.1');
  });
});
