// Clock skew: Stripe and Paddle sign a timestamp, and the receiver refuses a signature more than 300 s
// from its own clock. The service compares its clock with PostgreSQL's (round trip accounted for) at
// start and every minute; a skew over 60 s shows in partner_ledger_clock_skew_seconds and as a warning
// in GET /v1/integrations, before deliveries start failing. The service runs in the test process with
// its clock source injected (`ServiceOptions.now`, an offset the test moves) and a short interval;
// everything is read over HTTP, and signed deliveries show what the offset does to the receiver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayEnv, makeSales, paymentDelivery, prng, send, type GatewayName } from '../support/deliveries.js';
import { startTestService, type TestService } from '../support/service.js';
import { report } from './harness.js';

const API_KEY = 'pl_clock_skew_reliability_key';
const INTERVAL_MS = 250;
let offsetMs = 90_000;
let svc: TestService;
let startedAt = 0;
const clock = () => new Date(Date.now() + offsetMs);

beforeAll(async () => {
  startedAt = Date.now();
  svc = await startTestService({ ...gatewayEnv(), API_KEY }, { now: clock, clockCheckIntervalMs: INTERVAL_MS });
});
afterAll(async () => {
  await svc?.stop();
});

async function skewMetric(): Promise<number | undefined> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const m = /^partner_ledger_clock_skew_seconds (\S+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}
async function clockWarnings(): Promise<string[]> {
  const res = await fetch(`${svc.url}/v1/integrations`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  const { data } = (await res.json()) as { data: { warnings: string[] } };
  return data.warnings.filter((w) => w.startsWith('clock:'));
}
/** Until the next measurement has seen the new offset (bounded). */
async function measured(seconds: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await skewMetric();
    if (v !== undefined && Math.abs(v - seconds) < 2) return v;
    if (Date.now() > deadline) throw new Error(`partner_ledger_clock_skew_seconds is ${v}, not about ${seconds}, after 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let n = 0;
const random = prng(60);
/** A fresh signed payment delivery from each gateway: what the receiver answers with this clock. */
async function deliveries(): Promise<Record<GatewayName, string>> {
  const sales = makeSales(4, { tag: `ck${process.pid}x${n++}`, random, partners: ['ptn_clock'] });
  const out = {} as Record<GatewayName, string>;
  for (const sale of sales) {
    const a = await send(svc.url, paymentDelivery(sale));
    out[sale.gateway] = a.status === 200 ? '200' : `${a.status} ${(JSON.parse(a.text) as { error: { code: string } }).error.code}`;
  }
  return out;
}

describe('clock skew', () => {
  it('measured against PostgreSQL at start and every minute: a metric, an integrations warning beyond 60 s', async () => {
    // at start, with the clock already 90 s ahead: measured before the service answers anything
    const startupMs = Date.now() - startedAt;
    const atStart = { skew: await skewMetric(), warnings: await clockWarnings(), deliveries: await deliveries() };

    const steps: { offsetSeconds: number; skew: number; warnings: string[]; deliveries: Record<string, string> }[] = [];
    for (const seconds of [0, 30, 400, -120, 0]) {
      offsetMs = seconds * 1000;
      const skew = await measured(seconds);
      steps.push({ offsetSeconds: seconds, skew: Math.round(skew * 1000) / 1000, warnings: await clockWarnings(), deliveries: await deliveries() });
    }
    report('clock-skew', {
      checkIntervalMs: INTERVAL_MS,
      startupMs,
      atStart: { offsetSeconds: 90, skew: atStart.skew, warnings: atStart.warnings, deliveries: atStart.deliveries },
      steps,
    });

    // at start: 90 s ahead, measured and warned about at once
    expect(atStart.skew).toBeGreaterThan(88);
    expect(atStart.skew).toBeLessThan(92);
    expect(atStart.warnings).toEqual([expect.stringMatching(/^clock: this server's clock is 90 s ahead of the database's .*Stripe and Paddle signatures are refused beyond 300 s/)]);
    expect(atStart.deliveries).toEqual({ stripe: '200', paddle: '200', woocommerce: '200', chargebee: '200' });

    const [zero, thirty, far, behind, back] = steps as [(typeof steps)[0], (typeof steps)[0], (typeof steps)[0], (typeof steps)[0], (typeof steps)[0]];
    // in agreement, and within 60 s: no warning
    expect(Math.abs(zero.skew)).toBeLessThan(1);
    expect(zero.warnings).toEqual([]);
    expect(thirty.warnings).toEqual([]);
    // 400 s ahead: the timestamped gateways are refused, and the warning says why
    expect(far.warnings).toEqual([expect.stringMatching(/^clock: this server's clock is 400 s ahead/)]);
    expect(far.deliveries).toEqual({ stripe: '400 stale_timestamp', paddle: '400 stale_timestamp', woocommerce: '200', chargebee: '200' });
    expect(behind.warnings).toEqual([expect.stringMatching(/^clock: this server's clock is 120 s behind/)]);
    expect(behind.deliveries).toEqual({ stripe: '200', paddle: '200', woocommerce: '200', chargebee: '200' });
    // back in agreement: the warning is gone
    expect(Math.abs(back.skew)).toBeLessThan(1);
    expect(back.warnings).toEqual([]);
  });
});
