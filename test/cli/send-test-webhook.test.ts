// `npm run cli -- send-test-webhook <gateway>`: signs a realistic payment with the secret the service
// reads, posts it to a started service, and the transaction it books reads back through the REST API.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi } from '../support/api.js';
import { startTestService, type TestService } from '../support/service.js';

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');
const SECRETS = {
  API_KEY: 'test_send_key',
  STRIPE_WEBHOOK_SECRET: 'whsec_send_test',
  PADDLE_WEBHOOK_SECRET: 'pdl_ntfset_send_test',
  WOOCOMMERCE_WEBHOOK_SECRET: 'wc_send_test',
  CHARGEBEE_WEBHOOK_USERNAME: 'cb_user',
  CHARGEBEE_WEBHOOK_PASSWORD: 'cb_password',
};

let svc: TestService;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  svc = await startTestService(SECRETS);
  env = {
    ...process.env,
    ...SECRETS,
    DATABASE_URL: svc.db.url,
    REDIS_URL: svc.service.config.REDIS_URL,
    QUEUE_PREFIX: svc.service.config.QUEUE_PREFIX,
    LOG_LEVEL: 'silent',
  };
  const created = await callApi(svc.url, 'POST', '/v1/partners', { key: 'PARTNER_A', email: 'partner.a@example.com', name: 'Ada' }, SECRETS.API_KEY);
  expect(created.status).toBe(201);
});
afterAll(async () => {
  await svc?.stop();
});

const run = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'send-test-webhook', ...args], { env: { ...env, ...extraEnv } }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
  );

describe('send-test-webhook', () => {
  it.each([
    ['stripe', '49.00', 4900],
    ['paddle', '12.50', 1250],
    ['woocommerce', '59.00', 5900],
    ['chargebee', '99.99', 9999],
  ])('%s: a signed payment of %s USD is booked, credited to the partner, and readable', { timeout: 60_000 }, async (gateway, amount) => {
    const { code, stdout } = await run([gateway, '--partner', 'PARTNER_A', '--amount', amount, '--url', svc.url]);
    expect(stdout, stdout).toMatch(/→ 200 /);
    expect(stdout).toContain(`Booked: transaction`);
    expect(stdout).toContain('credited to PARTNER_A');
    expect(code).toBe(0);
    const key = /\/v1\/transactions\/(\S+) /.exec(stdout)?.[1];
    expect(key).toBeTruthy();
    const read = await callApi(svc.url, 'GET', `/v1/transactions/${key}`, undefined, SECRETS.API_KEY);
    expect(read.status).toBe(200);
    expect(read.body.data).toMatchObject({ key, amount: Number(amount), amount_units: 'USD', partner: 'PARTNER_A' });
    expect(read.body.data.attribution).toMatchObject({ partner_key: 'PARTNER_A', reward_reason: null });
    expect(read.body.data.rewards).toHaveLength(1);
  });

  it('a partner key that names no partner books the payment with no reward and says why', { timeout: 60_000 }, async () => {
    const { code, stdout } = await run(['stripe', '--partner', 'NOBODY', '--url', svc.url]);
    expect(code).toBe(0);
    expect(stdout).toContain('no reward (reward_reason: no_partner)');
    expect(stdout).toContain('Create partners before traffic arrives');
  });

  it('names the missing secret instead of sending an unsigned payment', { timeout: 60_000 }, async () => {
    const { code, stdout } = await run(['paddle', '--url', svc.url], { PADDLE_WEBHOOK_SECRET: '' });
    expect(code).toBe(1);
    expect(stdout).toContain('PADDLE_WEBHOOK_SECRET is not set');
  });

  it('a secret other than the service\'s is refused, and the output says what to align', { timeout: 60_000 }, async () => {
    const { code, stdout } = await run(['stripe', '--url', svc.url], { STRIPE_WEBHOOK_SECRET: 'whsec_other' });
    expect(code).toBe(1);
    expect(stdout).toMatch(/→ 400 .*invalid_signature/);
    expect(stdout).toContain('set the same value for both');
  });

  it('asks for the gateway by name', { timeout: 60_000 }, async () => {
    const { code, stdout } = await run(['paypal']);
    expect(code).toBe(2);
    expect(stdout).toContain('one of stripe, paddle, woocommerce, chargebee (not "paypal")');
  });
});
