// PATCH /v1/program refuses commission settings out of bounds with 422 naming the field, and keeps
// the settings it had.
import { spawnSync } from 'node:child_process';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.js';
import { callApi } from '../support/api.js';

const KEY = 'pl_test_program_bounds_key';
let svc: TestService;

const api = (method: string, path: string, body?: unknown) => callApi(svc.url, method, path, body, KEY);

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
});
afterAll(async () => {
  await svc?.stop();
});

describe('PATCH /v1/program commission bounds', () => {
  it('refuses a percent above 100 and a fixed amount above the maximum, for the program and for each rule', async () => {
    const before = (await api('GET', '/v1/program')).body.data.commission;
    const cases = [
      [{ type: 'percent', value: '1000000' }, 'commission.value', /percent commission is at most 100$/],
      [{ type: 'percent', value: '100.000000000001' }, 'commission.value', /percent commission is at most 100$/],
      [{ type: 'fixed', value: '1000000.01' }, 'commission.value', /fixed commission is at most 1000000 /],
      [{ type: 'percent', value: '10', rules: [{ partner: 'p', type: 'percent', value: '250' }] }, 'commission.rules.0.value', /percent commission is at most 100$/],
    ] as const;
    for (const [commission, field, message] of cases) {
      const r = await api('PATCH', '/v1/program', { commission });
      expect(r, JSON.stringify(commission)).toMatchObject({
        status: 422,
        body: { status: 0, error: { code: 'validation_failed', fields: { [field]: expect.stringMatching(message) } } },
      });
    }
    expect((await api('GET', '/v1/program')).body.data.commission).toEqual(before);
  });

  it('accepts the bounds themselves', async () => {
    const commission = { type: 'fixed', value: '1000000', rules: [{ partner: 'p', type: 'percent', value: '100' }], lifetime: { kind: 'all' } };
    const r = await api('PATCH', '/v1/program', { commission });
    expect(r).toMatchObject({ status: 200, body: { data: { commission } } });
  });

  it('a program stored above a bound before bounds existed still loads and pays what was set', async () => {
    await svc.db.db.execute(sql`update programs set commission = '{"type":"percent","value":"150","rules":[],"lifetime":{"kind":"all"}}'::jsonb where id = ${svc.programId}`);
    expect((await api('PATCH', '/v1/program', { name: 'Old settings' })).status).toBe(200); // drops the cached rules
    expect((await api('POST', '/v1/partners', { key: 'P-OLD', email: 'p-old@example.com' })).status).toBe(201);
    const t = await api('POST', '/v1/transactions', { key: 'bounds-old', amount: 10, options: { create_customer: true }, customer: { key: 'c-old', partner: { key: 'P-OLD' } } });
    expect(t.status).toBe(201);
    expect(t.body.data.rewards).toMatchObject([{ amount: 15 }]);
  });

  it('programs:create refuses the same bounds', () => {
    const run = (flag: string, value: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'programs:create', '--name', 'Bounds', flag, value], {
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: svc.db.url, LOG_LEVEL: 'silent' },
        encoding: 'utf8',
      });
    const high = run('--percent', '150');
    expect(high.status).toBe(2);
    expect(high.stdout).toContain('--percent: the value of a percent commission is at most 100');
    expect(run('--fixed', '2000000').stdout).toContain('--fixed: the value of a fixed commission is at most 1000000');
  });
});
