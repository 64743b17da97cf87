// Outbound deliveries survive the worker: a retry pending when the worker stops is sent by the next
// one, and an event committed while no worker runs is dispatched when one starts. The API and the
// worker run as separate services (PROCESS_ROLE) on one database and queue prefix.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startService, type Service } from '../../src/service.js';
import { testConfig } from '../support/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { removePrefix, testPrefix } from '../support/redis.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_outbound_restart_key';
const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
let db: TestDatabase;
const prefix = testPrefix();
let apiService: Service;
let worker: Service | undefined;
let apiUrl = '';

const received: { id: string; key: string }[] = [];
let answer = 500;
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { data: { key: string } };
    received.push({ id: String(req.headers['x-partner-ledger-delivery']), key: body.data.key });
    res.writeHead(answer).end();
  });
});

const env = () => ({
  DATABASE_URL: db.url,
  QUEUE_PREFIX: prefix,
  API_KEY: KEY,
  WEBHOOKS_ALLOW_LOOPBACK: 'true',
  // the first retry comes 1.5 s after the failure: time enough to stop the worker before it
  WEBHOOKS_RETRY_DELAYS_MS: '1500',
  WEBHOOKS_DISPATCH_INTERVAL_MS: '100',
});
const startWorker = () => startService(testConfig({ ...env(), PROCESS_ROLE: 'worker' }), logger);

const api = (method: string, path: string, body?: unknown) => callApi(apiUrl, method, path, body, KEY);

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const started = Date.now();
  while (!(await ok())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  db = await createTestDatabase();
  apiService = await startService(testConfig({ ...env(), PROCESS_ROLE: 'api', PORT: '0' }), logger);
  apiUrl = `http://127.0.0.1:${apiService.port}`;
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  expect((await api('POST', '/v1/webhooks', { url, events: ['partner.created'] })).status).toBe(201);
});
afterAll(async () => {
  await worker?.stop();
  await apiService?.stop();
  await removePrefix(prefix);
  await db?.drop();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

describe('a worker restart', () => {
  it('keeps a pending retry: the next worker sends it, with the same delivery id', async () => {
    worker = await startWorker();
    answer = 500;
    await api('POST', '/v1/partners', { key: 'P1' });
    await until('the first attempt', () => received.length === 1);
    await worker.stop();
    worker = undefined;
    answer = 200;
    await new Promise((r) => setTimeout(r, 2000));
    expect(received).toHaveLength(1); // no worker, no attempt

    worker = await startWorker();
    await until('the retry', () => received.length === 2);
    expect(received[1]).toEqual({ id: received[0]!.id, key: 'P1' });
    const hook = (await api('GET', '/v1/webhooks')).body.data[0].key as string;
    const log = () => api('GET', `/v1/webhooks/${hook}/deliveries`);
    await until('delivered', async () => (await log()).body.data[0]?.status === 'delivered');
    expect((await log()).body.data).toEqual([expect.objectContaining({ status: 'delivered', attempts: 2, response_code: 200 })]);
  });

  it('sends an event committed while no worker was running once one starts', async () => {
    await worker?.stop();
    worker = undefined;
    answer = 200;
    received.length = 0;
    expect((await api('POST', '/v1/partners', { key: 'P2' })).status).toBe(201);
    await new Promise((r) => setTimeout(r, 500));
    expect(received).toHaveLength(0);
    worker = await startWorker();
    await until('the delivery', () => received.length === 1);
    expect(received[0]).toMatchObject({ key: 'P2', id: expect.stringMatching(/^whd-\d+$/) });
  });
});
