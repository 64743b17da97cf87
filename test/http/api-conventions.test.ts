// The conventions every request of Partnero's clients relies on: the exact JSON content type, input
// from the query and (GET, DELETE) a JSON body alike, Laravel-readable errors, "" as absent, dates
// without a zone, repeated query parameters, and 503 + Retry-After when PostgreSQL refuses connections.
import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
import { createLogger } from '../../src/logger.js';
import { ADMIN_DATABASE_URL, databaseUrl } from '../support/env.js';
import { freePort } from '../support/ports.js';
import { startTestService, type TestService } from '../support/service.js';
import { wire } from './partnero/wire.js';

const KEY = 'pl_test_conventions_key';
let svc: TestService;

async function send(method: string, path: string, opts: { body?: string; key?: string | null; headers?: Record<string, string> } = {}) {
  return wire(svc.url, method, path, {
    body: opts.body,
    headers: { 'content-type': 'application/json', ...(opts.key === null ? {} : { authorization: `Bearer ${opts.key ?? KEY}` }), ...opts.headers },
  });
}

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
  await send('POST', '/v1/partners', { body: JSON.stringify({ key: 'conv-p', email: 'conv-p@example.com' }) });
  await send('POST', '/v1/partners', { body: JSON.stringify({ key: 'conv-q', email: 'conv-q@example.com' }) });
  for (let i = 0; i < 3; i++) await send('POST', '/v1/customers', { body: JSON.stringify({ key: `conv-c${i}`, partner: { key: i < 2 ? 'conv-p' : 'conv-q' } }) });
});
afterAll(async () => {
  await svc?.stop();
});

describe('Content-Type', () => {
  it('is exactly application/json on answers, errors, 404s, 413s and the OpenAPI document', async () => {
    const answers = [
      await send('GET', '/v1/partners'),
      await send('GET', '/v1/partners/nobody'),
      await send('GET', '/v1/no-such-route'),
      await send('GET', '/v1/partners', { key: null }),
      await send('POST', '/v1/partners', { body: '{"key": ' }),
      await send('POST', '/v1/partners', { body: JSON.stringify({ key: 'x', pad: 'x'.repeat(1_100_000) }) }),
      await send('POST', '/v1/partners', { body: JSON.stringify({ email: 'not an email' }) }),
      await send('GET', '/v1/openapi.json', { key: null }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 404, 404, 401, 400, 413, 422, 200]);
    for (const a of answers) expect(a.type).toBe('application/json');
  });
});

describe('Laravel-readable errors', () => {
  it('carry a top-level message, errors as { field: [messages] }, and the envelope of before', async () => {
    const r = await send('POST', '/v1/partners', { body: JSON.stringify({ email: 'not an email', key: 'has space' }) });
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({
      status: 0,
      message: expect.any(String),
      errors: { email: [expect.any(String)], key: [expect.any(String)] },
      error: { code: 'validation_failed', fields: { email: expect.any(String), key: expect.any(String) } },
    });
    const missing = await send('GET', '/v1/partners/nobody');
    expect(missing.body).toMatchObject({ status: 0, message: 'no partner with key, id or email "nobody"', error: { code: 'not_found' } });
  });
});

describe('input from the query and a JSON body', () => {
  it('reads a GET body as parameters (the PHP SDK), the query winning on a clash', async () => {
    const body = await send('GET', '/v1/customers', { body: JSON.stringify({ limit: 1, partner: { key: 'conv-p' } }) });
    expect(body.status).toBe(200);
    expect(body.body.data.map((c: { key: string }) => c.key)).toEqual(['conv-c0']);
    expect(body.body.meta).toMatchObject({ per_page: 1, total: 2 });
    const clash = await send('GET', '/v1/customers?limit=2', { body: JSON.stringify({ limit: 1, partner: { key: 'conv-q' } }) });
    expect(clash.body.meta).toMatchObject({ per_page: 2, total: 1 });
    // the SDK's empty parameters are `[]`
    expect((await send('GET', '/v1/partners', { body: '[]' })).status).toBe(200);
  });

  it('reads a DELETE body (DELETE /v1/partners with key or email)', async () => {
    await send('POST', '/v1/partners', { body: JSON.stringify({ key: 'conv-del', email: 'conv-del@example.com' }) });
    const r = await send('DELETE', '/v1/partners', { body: JSON.stringify({ email: 'conv-del@example.com' }) });
    expect(r).toMatchObject({ status: 200, body: { status: 1, data: { key: 'conv-del', deleted_at: expect.any(String) } } });
  });
});

describe('"" is absent, dates without a zone are UTC', () => {
  it('creates a customer from n8n\'s blank optional fields', async () => {
    const r = await send('POST', '/v1/customers', { body: JSON.stringify({ key: 'conv-blank', email: '', name: '', surname: '', partner: { key: 'conv-p' } }) });
    expect(r).toMatchObject({ status: 201, body: { data: { key: 'conv-blank', email: null, name: null, surname: null, partner: 'conv-p' } } });
  });

  it('reads created_at without a zone as UTC', async () => {
    const r = await send('POST', '/v1/transactions', {
      body: JSON.stringify({ key: 'conv-t-local', amount: 10, customer: { key: 'conv-c0' }, created_at: '2026-01-01T09:30:00', amount_units: '', product_id: '' }),
    });
    expect(r.status).toBe(201);
    expect(r.body.data.created_at).toBe('2026-01-01T09:30:00.000000Z');
  });
});

describe('repeated query parameters', () => {
  it('accepts the same value again, refuses different values', async () => {
    const same = await send('GET', '/v1/customers?limit=1&partner_key=conv-p&limit=1&partner_key=conv-p');
    expect(same.status).toBe(200);
    expect(same.body.meta).toMatchObject({ per_page: 1, total: 3 }); // conv-c0, conv-c1, conv-blank
    expect(same.body.data.map((c: { partner: string }) => c.partner)).toEqual(['conv-p']);
    const different = await send('GET', '/v1/customers?limit=1&limit=2');
    expect(different).toMatchObject({ status: 422, body: { errors: { limit: [expect.any(String)] } } });
  });
});

describe('PostgreSQL refusing connections', () => {
  const role = `pl_full_${randomBytes(4).toString('hex')}`;
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
    await admin.connect();
    await admin.query(`create role ${role} login connection limit 0`);
  });
  afterAll(async () => {
    await admin.query(`drop role if exists ${role}`);
    await admin.end();
  });

  async function answerThrough(pool: pg.Pool): Promise<{ status: number; type: string | null; retryAfter: string | null; body: unknown }> {
    const router = Router();
    router.get('/probe', async (_req, res) => {
      await pool.query('select 1');
      res.json({ ok: true });
    });
    const app = createApp({ logger: createLogger('silent'), routers: [router] });
    const server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/probe`);
      return { status: res.status, type: res.headers.get('content-type'), retryAfter: res.headers.get('retry-after'), body: await res.json() };
    } finally {
      server.close();
      await pool.end().catch(() => {});
    }
  }

  it('is 503 with Retry-After when the server is full (too many connections)', async () => {
    const url = new URL(databaseUrl('postgres'));
    url.username = role;
    const r = await answerThrough(new pg.Pool({ connectionString: url.toString() }));
    expect(r).toMatchObject({ status: 503, type: 'application/json', retryAfter: expect.stringMatching(/^\d+$/), body: { status: 0, error: { code: 'database_unavailable' } } });
  });

  it('is 503 with Retry-After when nothing listens', async () => {
    const port = await freePort();
    const r = await answerThrough(new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2000 }));
    expect(r).toMatchObject({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
  });
});
