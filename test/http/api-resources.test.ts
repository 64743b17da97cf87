// Partners, customers and program settings through the REST API; the programs:create command.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_resources_key';
let svc: TestService;

const api = (method: string, path: string, body?: unknown, key: string = KEY) => callApi(svc.url, method, path, body, key);

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY, STRIPE_WEBHOOK_SECRET: 'whsec_resources', STRIPE_API_KEY: 'sk_test_resources' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('/v1/partners', () => {
  it('creates (with a generated key when none is given), reads, lists and updates partners', async () => {
    const a = await api('POST', '/v1/partners', { key: 'ann', email: 'ann@example.com', name: 'Ann' });
    expect(a).toMatchObject({ status: 201, body: { status: 1, data: { key: 'ann', email: 'ann@example.com', name: 'Ann', surname: null } } });
    const generated = await api('POST', '/v1/partners', { email: 'gen@example.com' });
    expect(generated.body.data.key).toMatch(/^[0-9a-f]{12}$/);
    expect(await api('POST', '/v1/partners', { key: 'ann' })).toMatchObject({ status: 409, body: { error: { code: 'duplicate_key' } } });
    expect(await api('POST', '/v1/partners', { key: 'bad key' })).toMatchObject({ status: 422, body: { error: { fields: { key: expect.any(String) } } } });
    expect((await api('GET', '/v1/partners/ann')).body.data.name).toBe('Ann');
    expect((await api('PATCH', '/v1/partners/ann', { surname: 'Lee' })).body.data).toMatchObject({ name: 'Ann', surname: 'Lee' });
    const list = await api('GET', '/v1/partners?limit=1');
    expect(list.body).toMatchObject({ status: 1, meta: { total: 2, per_page: 1, last_page: 2 } });
    expect((await api('GET', '/v1/partners/nobody')).status).toBe(404);
  });
});

describe('/v1/customers', () => {
  it('requires a known partner in an affiliate program, and the link is permanent', async () => {
    await api('POST', '/v1/partners', { key: 'pat' });
    expect(await api('POST', '/v1/customers', { key: 'c1' })).toMatchObject({ status: 422, body: { error: { fields: { partner: 'required' } } } });
    expect(await api('POST', '/v1/customers', { key: 'c1', partner: { key: 'ghost' } })).toMatchObject({ status: 422, body: { error: { code: 'unknown_partner' } } });
    const c = await api('POST', '/v1/customers', { key: 'c1', email: 'c1@example.com', partner: { key: 'pat' } });
    expect(c).toMatchObject({ status: 201, body: { data: { key: 'c1', partner: 'pat', referring_customer: null } } });
    expect((await api('POST', '/v1/customers', { key: 'c1', partner: { key: 'pat' } })).status).toBe(409);
    expect((await api('PATCH', '/v1/customers/c1', { partner: { key: 'ann' } })).status).toBe(422);
    expect((await api('PATCH', '/v1/customers/c1', { name: 'Cee' })).body.data).toMatchObject({ name: 'Cee', partner: 'pat' });
    // a transaction for the customer credits its partner
    const t = await api('POST', '/v1/transactions', { key: 'c1-t1', amount: 10, customer: { key: 'c1' } });
    expect(t.body.data).toMatchObject({ partner: 'pat', customer: 'c1', rewards: [{ amount: 2 }] });
    expect((await api('GET', '/v1/customers')).body.meta.total).toBe(1);
  });

  it('in a refer-a-friend program, the referring customer earns and the API says so', async () => {
    const raf = await createProgram(svc.db.db, { name: 'Friends', type: 'refer_a_friend' });
    expect((await api('POST', '/v1/customers', { key: 'alice', email: 'alice@example.com' }, raf.apiKey)).status).toBe(201);
    const bob = await api('POST', '/v1/customers', { key: 'bob', referring_customer: { key: 'alice' } }, raf.apiKey);
    expect(bob.body.data).toMatchObject({ key: 'bob', referring_customer: 'alice', partner: null });
    const t = await api('POST', '/v1/transactions', { key: 'bob-1', amount: 100, customer: { key: 'bob' } }, raf.apiKey);
    expect(t.body.data).toMatchObject({ customer: 'alice', referred_customer: 'bob', rewards: [{ customer: 'alice', partner: null, amount: 20 }] });
    expect(t.body.data).not.toHaveProperty('partner');
  });
});

describe('/v1/program', () => {
  it('shows the settings, never the secrets', async () => {
    const r = await api('GET', '/v1/program');
    expect(r.body.data).toMatchObject({
      type: 'affiliate',
      attribution_model: 'customer',
      currency: 'USD',
      commission: { type: 'percent', value: '20' },
      gateways: { stripe: { webhook_secrets: 1, api_key: true } },
    });
    expect(JSON.stringify(r.body)).not.toContain('whsec_resources');
    expect(JSON.stringify(r.body)).not.toContain('sk_test_resources');
    expect(r.body.data).not.toHaveProperty('signing_secret');
  });

  it('changes apply to the next transaction at once; bad settings are 422', async () => {
    await api('POST', '/v1/partners', { key: 'pp' });
    const patched = await api('PATCH', '/v1/program', {
      attribution_model: 'transaction',
      review_period_days: 30,
      commission: { type: 'percent', value: '10', rules: [{ product_type: 'year', type: 'fixed', value: '50' }], lifetime: { kind: 'all' } },
      gateways: { paddle: { webhook_secrets: ['pdl_secret'] } },
    });
    expect(patched.body.data).toMatchObject({ attribution_model: 'transaction', review_period_days: 30, gateways: { paddle: { webhook_secrets: 1 }, stripe: { webhook_secrets: 1 } } });
    const t = await api('POST', '/v1/transactions', { key: 'after-patch', amount: 100, customer: { key: 'pc' }, partner: { key: 'pp' } });
    expect(t.body.data).toMatchObject({ customer: 'pc__pkey_pp', partner: 'pp', rewards: [{ amount: 10, status: 'review_period' }] });
    expect(await api('PATCH', '/v1/program', { currency: 'points' })).toMatchObject({ status: 422, body: { error: { fields: { currency: expect.any(String) } } } });
    expect((await api('PATCH', '/v1/program', { commission: { type: 'percent', value: '-5' } })).status).toBe(422);
    expect((await api('PATCH', '/v1/program', { type: 'pyramid' })).status).toBe(422);
  });
});

describe('npm run cli -- programs:create', () => {
  it('creates a program and prints its key once; the key works', async () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'programs:create', '--name', 'From the CLI', '--percent', '12.5'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: svc.db.url, LOG_LEVEL: 'silent' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    const key = /api key:\s+(\S+)/.exec(run.stdout)?.[1];
    expect(key).toMatch(/^pl_/);
    const program = await api('GET', '/v1/program', undefined, key!);
    expect(program.body.data).toMatchObject({ name: 'From the CLI', commission: { value: '12.5' } });
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'programs:create', '--name', 'x', '--type', 'pyramid'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: svc.db.url },
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stdout).toContain('--type');
  });
});
