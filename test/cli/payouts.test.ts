// `npm run cli -- payouts:run` and `payouts:export`, run as an operator runs them, against a started
// service whose rewards were booked through the REST API; the requests they make read back through it.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../../src/db/programs.js';
import { callApi } from '../support/api.js';
import { payoutHelpers, zero } from '../support/payouts.js';
import { startTestService, type TestService } from '../support/service.js';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');
const KEY = 'pl_test_cli_payouts_key';
let svc: TestService;
let other: { id: string; apiKey: string };
let env: NodeJS.ProcessEnv;

const api = (method: string, path: string, body?: unknown, key: string = KEY) => callApi(svc.url, method, path, body, key);
const { sale, partner, balance } = payoutHelpers(api, KEY);

const run = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, ...args], { env }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

const requestsOf = async (partnerKey: string, key = KEY) => (await api('GET', `/v1/payout_requests?partner_key=${partnerKey}`, undefined, key)).body.data as { id: number; amount: string; status: string; amount_units: string }[];

beforeAll(async () => {
  svc = await startTestService({ API_KEY: KEY });
  env = { ...process.env, API_KEY: KEY, DATABASE_URL: svc.db.url, REDIS_URL: svc.service.config.REDIS_URL, QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX, LOG_LEVEL: 'silent' };
  other = await createProgram(svc.db.db, { name: 'Another merchant' });
  // RUN_BIG: 20.008 USD and 10 EUR; RUN_SMALL: 2 USD; RUN_OTHER (another program): 40 USD
  await partner('RUN_BIG');
  await sale('RUN_BIG', 99.99);
  await sale('RUN_BIG', 0.05);
  await sale('RUN_BIG', 50, 'EUR');
  await partner('RUN_SMALL');
  await sale('RUN_SMALL', 10);
  await partner('RUN_OTHER', other.apiKey);
  await sale('RUN_OTHER', 200, 'USD', other.apiKey);
});
afterAll(async () => {
  await svc?.stop();
});

describe('payouts:run', () => {
  it('refuses a missing or wrong --currency and a bad --minimum in plain words', { timeout: 60_000 }, async () => {
    expect(await run(['payouts:run'])).toMatchObject({ code: 2, stdout: expect.stringContaining('--currency is required') });
    expect(await run(['payouts:run', '--currency', 'dollars'])).toMatchObject({ code: 2, stdout: expect.stringContaining('--currency an ISO 4217 currency code') });
    expect(await run(['payouts:run', '--currency', 'USD', '--minimum', 'lots'])).toMatchObject({ code: 2, stdout: expect.stringContaining('--minimum') });
  });

  it('--dry-run names who would be paid and changes nothing; a run requests exactly that, once', { timeout: 60_000 }, async () => {
    const dry = await run(['payouts:run', '--currency', 'USD', '--minimum', '5', '--program', svc.programId, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would request USD 20.008 for RUN_BIG (program ${svc.programId})`);
    expect(dry.stdout).not.toContain('RUN_SMALL');
    expect(dry.stdout).not.toContain('RUN_OTHER');
    expect(dry.stdout).toContain('1 payout request would be requested, USD 20.008 in all');
    expect(await requestsOf('RUN_BIG')).toEqual([]);

    const real = await run(['payouts:run', '--currency', 'usd', '--minimum', '5', '--program', svc.programId]);
    expect(real.code, real.stderr).toBe(0);
    expect(real.stdout).toMatch(/requested #\d+: USD 20\.008 for RUN_BIG/);
    const [request] = await requestsOf('RUN_BIG');
    expect(request).toMatchObject({ status: 'requested', amount: '20.008', amount_units: 'USD' });
    // the EUR balance and the partner under the minimum are left alone
    expect(await balance('RUN_BIG')).toEqual([
      { currency: 'EUR', ...zero, available: '10' },
      { currency: 'USD', ...zero, in_payout: '20.008' },
    ]);
    expect(await requestsOf('RUN_SMALL')).toEqual([]);
    expect(await requestsOf('RUN_OTHER', other.apiKey)).toEqual([]);

    const again = await run(['payouts:run', '--currency', 'USD', '--minimum', '5', '--program', svc.programId]);
    expect(again.stdout).toContain('0 payout requests requested');
    expect(await requestsOf('RUN_BIG')).toHaveLength(1);
  });

  it('without --program it pays every program', { timeout: 60_000 }, async () => {
    const r = await run(['payouts:run', '--currency', 'USD', '--minimum', '30']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`requested #\\d+: USD 40 for RUN_OTHER \\(program ${other.id}\\)`));
    expect(await requestsOf('RUN_OTHER', other.apiKey)).toMatchObject([{ amount: '40', status: 'requested' }]);
  });
});

describe('payouts:export', () => {
  let usd: number[];
  let eur: number;
  const file = (name: string) => path.join(tmpdir(), `payouts-${process.pid}-${name}`);

  beforeAll(async () => {
    await partner('EXP_A');
    await api('PATCH', '/v1/partners/EXP_A', { name: 'Ada', surname: 'Lovelace' });
    await sale('EXP_A', 99.99); // 19.998
    await partner('EXP_B');
    await sale('EXP_B', 12.5); // 2.5
    await sale('EXP_B', 30, 'EUR'); // 6
    const a = (await api('POST', '/v1/payout_requests', { partner: { key: 'EXP_A' }, gateway: 'paypal', payout_settings: { username: 'ada@paypal.example.com' }, note: 'Thanks, Ada' })).body.data;
    const b = (await api('POST', '/v1/payout_requests', { partner: { key: 'EXP_B' }, amount_units: 'USD', gateway: 'wise' })).body.data;
    const e = (await api('POST', '/v1/payout_requests', { partner: { key: 'EXP_B' }, amount_units: 'EUR', gateway: 'wise' })).body.data;
    for (const r of [a, b, e]) expect((await api('POST', `/v1/payout_requests/${r.id}/approve`)).status).toBe(200);
    usd = [a.id, b.id];
    eur = e.id;
  });

  it("PayPal: PayPal Payouts' payment file, no header, one currency, amounts in cents", { timeout: 60_000 }, async () => {
    const out = file('paypal.csv');
    const r = await run(['payouts:export', '--id', String(usd[0]), '--id', String(usd[1]), '--format', 'paypal', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`exported 2 payout requests (USD 22.5) as paypal to ${out}`);
    // recipient identifier, payment amount, currency, customer id, note to recipient, recipient wallet
    expect((await readFile(out, 'utf8')).trim().split('\n')).toEqual([
      `ada@paypal.example.com,20.00,USD,PR${usd[0]},"Thanks, Ada",PAYPAL`,
      `exp_b@partners.example.com,2.50,USD,PR${usd[1]},Partner payout ${usd[1]},PAYPAL`,
    ]);
    const mixed = await run(['payouts:export', '--id', `${usd[0]},${eur}`, '--format', 'paypal']);
    expect(mixed).toMatchObject({ code: 1, stdout: expect.stringContaining('PayPal takes one currency a file') });
  });

  it("Wise: the 'send by email' batch template's header and a row a request", { timeout: 60_000 }, async () => {
    const r = await run(['payouts:export', '--id', `${usd[0]},${eur}`, '--format', 'wise']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      'name,recipientEmail,paymentReference,receiverType,amountCurrency,amount,sourceCurrency,targetCurrency',
      `Ada Lovelace,ada@paypal.example.com,PR${usd[0]},PERSON,target,20.00,USD,USD`,
      `EXP_B,exp_b@partners.example.com,PR${eur},PERSON,target,6.00,EUR,EUR`,
    ]);
    expect(r.stderr).toContain('exported 2 payout requests (USD 20, EUR 6) as wise');
  });

  it('csv: every field with a header row, the exact amount beside the paid one', { timeout: 60_000 }, async () => {
    const r = await run(['payouts:export', '--id', String(usd[0]), '--format', 'csv']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const [header, row] = r.stdout.trim().split('\n');
    expect(header).toBe('payout_request_id,partner_id,partner_key,partner_email,partner_name,amount,exact_amount,currency,gateway,recipient_email,note,approved_at');
    expect(row).toMatch(new RegExp(`^${usd[0]},[0-9a-f-]{36},EXP_A,exp_a@partners.example.com,Ada Lovelace,20.00,19.998,USD,paypal,ada@paypal.example.com,"Thanks, Ada",\\d{4}-`));
  });

  it('exports approved requests only, and names what it refuses', { timeout: 60_000 }, async () => {
    const [requested] = await requestsOf('RUN_BIG');
    const r = await run(['payouts:export', '--id', `${requested!.id},999999`, '--format', 'wise']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`payout request ${requested!.id} is requested: only approved requests are exported`);
    expect(r.stdout).toContain('no payout request 999999');
    expect(await run(['payouts:export', '--id', '1'])).toMatchObject({ code: 2, stdout: expect.stringContaining('--format is required') });
    expect(await run(['payouts:export', '--format', 'csv'])).toMatchObject({ code: 2, stdout: expect.stringContaining('--id') });
    expect(await run(['payouts:export', '--id', 'abc', '--format', 'csv'])).toMatchObject({ code: 2, stdout: expect.stringContaining('whole numbers') });
  });
});
