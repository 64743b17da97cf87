// The bulk API: a queued run with good and bad items, its report, and its signed completion callback.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkRuns, programs } from '../../src/db/schema.js';
import { deliverBulkCallback } from '../../src/worker/callbacks.js';
import { createPartner } from '../support/ledger.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_bulk_key';
let svc: TestService;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
let answer = 200;
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    res.writeHead(answer).end();
  });
});
let callbackUrl = '';

const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);

async function finished(runId: string) {
  for (let i = 0; i < 200; i++) {
    const r = await api('GET', `/v1/runs/${runId}`);
    if (r.body.data.status === 'completed') return r.body.data;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('run did not complete');
}

beforeAll(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/bulk`;
  // the receiver is on loopback: allowed for tests only (production refuses it)
  svc = await startTestService({ API_KEY: KEY, WEBHOOKS_ALLOW_LOOPBACK: 'true' });
  await createPartner(svc.db.db, svc.programId, 'P1');
  await api('POST', '/v1/customers', { key: 'c1', partner: { key: 'P1' } });
  await api('POST', '/v1/transactions', { key: 'existing-tx', amount: 10, customer: { key: 'c1' } });
});
afterAll(async () => {
  await svc?.stop();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
});

describe('POST /v1/transactions/bulk', () => {
  it('refuses more than 1,000 items with 413, and a body without items with 422', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ cid: 'c1', total: i + 1 }));
    expect(await api('POST', '/v1/transactions/bulk', { transactions: many })).toMatchObject({ status: 413, body: { error: { code: 'too_many_items' } } });
    expect((await api('POST', '/v1/transactions/bulk', { transactions: [] })).status).toBe(422);
  });

  it('a correction to an amount that earns nothing deletes the reward and says why', async () => {
    await api('POST', '/v1/transactions', { key: 'zeroed-tx', amount: 10, customer: { key: 'c1' } });
    expect((await api('GET', '/v1/transactions/zeroed-tx')).body.data.rewards).toMatchObject([{ amount: 2, status: 'ok', deleted_reason: null }]);
    const r = await api('POST', '/v1/transactions/bulk', { transactions: [{ cid: 'c1', tid: 'zeroed-tx', total: 0 }] });
    expect(await finished(r.body.runId)).toMatchObject({ total: 1, succeeded: 1, failed: 0 });
    const t = (await api('GET', '/v1/transactions/zeroed-tx')).body.data;
    expect(t).toMatchObject({ amount: 0, deleted_at: null });
    expect(t.rewards).toMatchObject([{ status: 'deleted', deleted_at: expect.any(String), deleted_reason: 'amount_corrected' }]);
  });

  it('queues a run at once; good items become transactions, bad ones are reported; the callback is signed', async () => {
    const r = await api('POST', '/v1/transactions/bulk', {
      options: { convert_utc: true, callback: callbackUrl },
      transactions: [
        { cid: 'c1', total: 9999 },
        { cid: 'c1', tid: 't-2', total: '5000', tax: 500, date: '2026-03-01 10:00:00' },
        { cid: 'c2', total: -5 },
        { total: 100 },
        { cid: 'c1', tid: 'existing-tx', total: 2000 },
      ],
    });
    expect(r).toMatchObject({ status: 200, body: { status: 200, message: '5 transactions received', runId: expect.any(String) } });
    const run = await finished(r.body.runId);
    expect(run).toMatchObject({ total: 5, processed: 5, succeeded: 3, failed: 2 });
    expect(run.errors).toEqual([
      { index: 2, tid: null, reason: expect.stringContaining('total') },
      { index: 3, tid: null, reason: expect.stringContaining('cid') },
    ]);

    const t2 = await api('GET', '/v1/transactions/t-2');
    expect(t2.body.data).toMatchObject({ amount: 50, partner: 'P1', customer: 'c1', tax_cents: 500, created_at: '2026-03-01T10:00:00.000000Z', rewards: [{ amount: 10 }] });
    // an existing tid is corrected, its reward computed again
    const corrected = await api('GET', '/v1/transactions/existing-tx');
    expect(corrected.body.data).toMatchObject({ amount: 20, rewards: [{ amount: 4 }] });
    const first = await api('GET', `/v1/transactions?customer=c1&limit=250`);
    expect(first.body.data.map((t: { amount: number }) => t.amount)).toContain(99.99);

    // the callback: delivered once the run completed, signed with the program's signing secret
    for (let i = 0; i < 100 && !received.length; i++) await new Promise((res) => setTimeout(res, 50));
    expect(received).toHaveLength(1);
    const [program] = await svc.db.db.select().from(programs).where(eq(programs.id, svc.programId));
    const expected = createHmac('sha256', program!.signingSecret).update(received[0]!.body).digest('hex');
    expect(received[0]!.headers.signature).toBe(expected);
    expect(JSON.parse(received[0]!.body)).toMatchObject({ event: 'bulk_run.completed', data: { id: r.body.runId, succeeded: 3, failed: 2 } });
    const after = await api('GET', `/v1/runs/${r.body.runId}`);
    expect(after.body.data.callback).toEqual({ url: callbackUrl, status: 'delivered' });
  });

  it('a failing callback is retried, and the run says so', async () => {
    const [run] = await svc.db.db
      .insert(bulkRuns)
      .values({ programId: svc.programId, total: 0, status: 'completed', callbackUrl })
      .returning();
    answer = 500;
    const job = { id: 'callback-test', attemptsMade: 0, opts: { attempts: 12 } } as unknown as Job;
    const loopbackAllowed = { policy: { allowLoopback: true } };
    await expect(deliverBulkCallback(svc.db.db, { runId: run!.id }, job, loopbackAllowed)).rejects.toThrow(/HTTP 500/);
    expect((await api('GET', `/v1/runs/${run!.id}`)).body.data.callback.status).toBe('retrying: HTTP 500');
    answer = 200;
    await deliverBulkCallback(svc.db.db, { runId: run!.id }, { ...job, attemptsMade: 1 } as unknown as Job, loopbackAllowed);
    expect((await api('GET', `/v1/runs/${run!.id}`)).body.data.callback.status).toBe('delivered');
  });

  it("another program's run is a 404", async () => {
    expect((await api('GET', '/v1/runs/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});
