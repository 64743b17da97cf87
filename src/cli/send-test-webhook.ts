// `npm run cli -- send-test-webhook stripe|paddle|woocommerce|chargebee [--partner KEY] [--amount 49.00]
//   [--email buyer@example.com] [--url http://127.0.0.1:3000]`: a signed test payment, as the gateway
// would send it, signed with the default program's secret from the configuration the service reads.
import { and, eq } from 'drizzle-orm';
import { fromMinorUnits, toMinorUnits } from '../core/money.js';
import { gatewaySettingsFromEnv } from '../gateways/settings.js';
import { DEFAULT_PROGRAM_SLUG } from '../db/default-program.js';
import { programs, transactions } from '../db/schema.js';
import { options, type CliCommand } from './command.js';
import { missingSecret, signedTestWebhook, TEST_GATEWAYS, type TestGateway } from './test-payments.js';

const USAGE = `usage: npm run cli -- send-test-webhook <stripe|paddle|woocommerce|chargebee> [options]

Signs one realistic paid payment with the default program's webhook secret (from the same
environment the service reads: STRIPE_WEBHOOK_SECRET, PADDLE_WEBHOOK_SECRET,
WOOCOMMERCE_WEBHOOK_SECRET, CHARGEBEE_WEBHOOK_USERNAME/PASSWORD), posts it to the service's
receiver and says what became of it.

options:
  --partner KEY     the partner_key the payment carries (default PARTNER_A)
  --amount 49.00    the amount paid, in USD (default 49.00)
  --email ADDRESS   the payer's email (default buyer+<random>@example.com: a new customer)
  --url URL         the service (default http://127.0.0.1:<PORT>)
  --wait SECONDS    how long to wait for the transaction to be booked (default 10; 0: do not wait)
  -h, --help        this text`;

export const sendTestWebhook: CliCommand = {
  summary: 'sign and post a test payment webhook (stripe|paddle|woocommerce|chargebee) [--partner] [--amount] [--url]',
  usage: USAGE,
  async run({ config, database, args, out }) {
    const [gateway, ...rest] = args;
    if (!gateway || !(TEST_GATEWAYS as readonly string[]).includes(gateway)) {
      out(`send-test-webhook: name the gateway first: one of ${TEST_GATEWAYS.join(', ')}${gateway ? ` (not "${gateway}")` : ''}`);
      out(USAGE);
      return 2;
    }
    const o = options(rest, {
      partner: { type: 'string' },
      amount: { type: 'string' },
      email: { type: 'string' },
      url: { type: 'string' },
      wait: { type: 'string' },
    });
    const amount = o.amount ?? '49.00';
    if (!/^\d{1,9}(\.\d{1,2})?$/.test(amount) || Number(amount) <= 0) {
      out(`send-test-webhook: --amount: a positive amount in USD such as 49.00 (not "${amount}")`);
      return 2;
    }
    const waitSeconds = Number(o.wait ?? 10);
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0) {
      out(`send-test-webhook: --wait: a number of seconds (not "${o.wait}")`);
      return 2;
    }
    const base = (o.url ?? `http://127.0.0.1:${config.PORT}`).replace(/\/+$/, '');
    const settings = gatewaySettingsFromEnv(config);
    const g = gateway as TestGateway;
    const missing = missingSecret(g, settings);
    if (missing) {
      out(`send-test-webhook: ${missing} is not set, so there is nothing to sign with.`);
      out(`Set it (any value for a local try) in the environment of both the service and this command, restart the service, and run this again.`);
      return 1;
    }
    const partnerKey = o.partner ?? 'PARTNER_A';
    const webhook = signedTestWebhook(
      g,
      { partnerKey, minor: toMinorUnits(amount, 'USD'), currency: 'USD', email: o.email ?? `buyer+${Date.now()}@example.com`, now: new Date() },
      settings,
    );
    const url = `${base}/webhooks/${g}`;
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...webhook.headers }, body: webhook.body });
    } catch (err) {
      out(`send-test-webhook: cannot reach ${url} (${(err as Error).cause ?? (err as Error).message}): is the service running (npm start)?`);
      return 1;
    }
    const text = await res.text();
    out(`POST ${url} (${g} payment of ${amount} USD, partner_key ${partnerKey}, event ${webhook.eventId}) → ${res.status} ${text.slice(0, 300)}`);
    if (!res.ok) {
      if (res.status === 400 || res.status === 401) {
        out(`The service refused the signature: its ${missing ?? 'webhook secret'} differs from this command's. Both read the same environment variables: set the same value for both and restart the service.`);
      }
      return 1;
    }

    const [program] = await database.db.select({ id: programs.id }).from(programs).where(eq(programs.slug, DEFAULT_PROGRAM_SLUG));
    const deadline = Date.now() + waitSeconds * 1000;
    let booked: { key: string; amount: bigint; attribution: unknown } | undefined;
    while (program && waitSeconds > 0) {
      [booked] = await database.db
        .select({ key: transactions.key, amount: transactions.amountMinor, attribution: transactions.attribution })
        .from(transactions)
        .where(and(eq(transactions.programId, program.id), eq(transactions.key, webhook.transactionKey)));
      if (booked || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (booked) {
      const a = booked.attribution as { credited?: { key: string } | null; reward_reason?: string | null };
      out(
        `Booked: transaction ${booked.key}, ${fromMinorUnits(booked.amount, 'USD')} USD, ` +
          (a.credited ? `credited to ${a.credited.key}` : `no reward (reward_reason: ${a.reward_reason ?? 'none'})`) +
          '.',
      );
    } else if (waitSeconds > 0) {
      out(
        `Not booked within ${waitSeconds} s: is a worker running (PROCESS_ROLE), and does --url point at the service using this database? ` +
          'GET /v1/integrations shows what the receiver and the worker saw.',
      );
    }
    out('Read it (its attribution says how the partner was found and why a reward was or was not made):');
    out(`  curl -s ${base}/v1/transactions/${webhook.transactionKey} -H "Authorization: Bearer $API_KEY"`);
    if (booked && !(booked.attribution as { credited?: unknown }).credited) {
      out(`No partner has the key ${partnerKey} yet? Create partners before traffic arrives: POST /v1/partners {"key":"${partnerKey}", ...}`);
    }
    return 0;
  },
};
