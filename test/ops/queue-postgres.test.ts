// QUEUE_BACKEND=postgres: a Postgres-only deployment. The queues live in the service's own database
// (schema bullmq); Redis is never asked, not even when REDIS_URL names one.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageOnlyRetention, POSTGRES_COUNT_RETENTION_AGE_SECONDS } from '../../src/queue/backend.js';
import { chooseQueueBackend } from '../../src/queue/backend-choice.js';
import { callApi } from '../support/api.js';
import { gatewayEnv, paymentDelivery, type Sale } from '../support/deliveries.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { createPartner } from '../support/ledger.js';
import { freePort } from '../support/ports.js';
import { startTestService, type TestService } from '../support/service.js';

const KEY = 'pl_test_queue_postgres_key_0001';
const USER = 'ops';
const PASSWORD = 'queue-postgres-dashboard';

describe('QUEUE_BACKEND=postgres with REDIS_URL naming a port that counts its connections', () => {
  let svc: TestService;
  let redisPort: number;
  const attempts: string[] = [];
  const listener = net.createServer((socket) => {
    // anything that dials "Redis" is recorded and hung up on
    attempts.push(`${socket.remoteAddress}:${socket.remotePort}`);
    socket.destroy();
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    redisPort = (listener.address() as net.AddressInfo).port;
    svc = await startTestService({
      ...gatewayEnv(),
      QUEUE_BACKEND: 'postgres',
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      API_KEY: KEY,
      DASHBOARD_USER: USER,
      DASHBOARD_PASSWORD: PASSWORD,
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await new Promise((r) => listener.close(r));
  });

  it('books a signed webhook into a transaction, and nothing ever dials Redis', async () => {
    await createPartner(svc.db.db, svc.programId, 'ptn_pg_only');
    const sale: Sale = { gateway: 'stripe', id: 'pgonly1', n: 1, amountMinor: 4900n, currency: 'USD', partnerKey: 'ptn_pg_only', customer: 1 };
    const d = paymentDelivery(sale);
    const res = await svc.post('/webhooks/stripe', d.body, d.headers());
    expect(res.status).toBe(200);
    expect((await svc.settled('stripe', d.eventId)).status).toBe('processed');

    const list = await callApi(svc.url, 'GET', '/v1/transactions', undefined, KEY);
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ amount: 49, amount_units: 'USD', gateway: 'stripe', partner: 'ptn_pg_only' });
    expect(list.body.data[0].rewards).toHaveLength(1);

    // the job itself sits in the database's bullmq schema
    const jobs = await svc.db.pool.query(`select state from bullmq.job where queue = 'payment-events'`);
    expect(jobs.rows).toEqual([{ state: 'completed' }]);
    expect(attempts).toEqual([]);
  });

  it('/readyz, /metrics and the queue dashboard name the PostgreSQL backend and answer without Redis', async () => {
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', queue_backend: 'postgres', checks: { postgres: 'ok' } });

    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/^partner_ledger_queue_backend\{backend="postgres"\} 1$/m);
    expect(metrics).toMatch(/^partner_ledger_queue_up\{queue="payment-events"\} 1$/m);

    const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
    const board = await fetch(`${svc.url}/admin/queues/api/queues?activeQueue=payment-events&status=completed`, { headers: auth });
    expect(board.status).toBe(200);
    const queues = ((await board.json()) as { queues: { name: string; counts: Record<string, number>; jobs: { name: string }[] }[] }).queues;
    const payments = queues.find((q) => q.name === 'payment-events');
    expect(payments?.counts.completed).toBeGreaterThanOrEqual(1);
    expect(payments?.jobs.map((j) => j.name)).toContain('stripe payment_intent.succeeded');
    // the maintenance schedules run as job schedulers on this backend too
    expect(queues.find((q) => q.name === 'maintenance')?.counts.delayed).toBeGreaterThanOrEqual(1);
    expect(attempts).toEqual([]);
  });
});

describe('the queue backend chosen at start when QUEUE_BACKEND is unset', () => {
  it('is redis when REDIS_URL is set, even to a Redis that does not answer (start-up then names it)', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    expect(await chooseQueueBackend({ REDIS_URL: closed, REDIS_URL_SET: true })).toMatchObject({ backend: 'redis' });
  });

  it('without REDIS_URL: redis when a Redis answers at the default address, postgres when none does', async () => {
    expect(await chooseQueueBackend({ REDIS_URL: TEST_REDIS_URL, REDIS_URL_SET: false })).toMatchObject({ backend: 'redis' });
    const closed = `redis://127.0.0.1:${await freePort()}`;
    expect(await chooseQueueBackend({ REDIS_URL: closed, REDIS_URL_SET: false })).toEqual({
      backend: 'postgres',
      why: `no REDIS_URL and no Redis answers at ${closed}`,
    });
  });

  it('QUEUE_BACKEND wins over both', async () => {
    expect(await chooseQueueBackend({ QUEUE_BACKEND: 'postgres', REDIS_URL: TEST_REDIS_URL, REDIS_URL_SET: true })).toMatchObject({ backend: 'postgres' });
  });
});

describe('job retention on the PostgreSQL backend', () => {
  // a count there makes every completion scan the jobs it keeps (and deadlock under concurrency)
  it.each([
    ['an age and a count: the age', { age: 3600, count: 10_000 }, { age: 3600 }],
    ['a count alone: a day', { count: 1000 }, { age: POSTGRES_COUNT_RETENTION_AGE_SECONDS }],
    ['a number (a count): a day', 10, { age: POSTGRES_COUNT_RETENTION_AGE_SECONDS }],
    ['an age: kept', { age: 60 }, { age: 60 }],
    ['remove at once: kept', true, true],
    ['keep all: kept', false, false],
  ] as const)('%s', (_label, given, expected) => {
    expect(ageOnlyRetention(given)).toEqual(expected);
  });
});
