// A load generator, run as its own process so it never shares an event loop with the server it
// measures. Keep-alive connections, each sending requests back to back (or at a fixed total rate),
// bounded by duration and count. Prints one JSON line of figures.
//   tsx bench/load.ts '{"url":"http://127.0.0.1:3000/webhooks/stripe","connections":50,"durationMs":10000,"body":"stripe","secret":"whsec_x"}'
import http from 'node:http';
import { stripeBody, stripeSignature } from './stripe-bodies.js';

type Options = {
  url: string;
  connections: number;
  durationMs: number;
  /**
   * 'stripe': POST a signed ~3 KB Stripe event with a unique id per request; 'fixed': POST the same
   * body; 'none': GET the url (its query string included), as a REST client reads a page.
   */
  body: 'stripe' | 'fixed' | 'none';
  /** Extra request headers (an API key's `authorization`). */
  headers?: Record<string, string>;
  secret?: string;
  /** A steady total rate (requests per second) instead of as fast as possible. */
  rate?: number;
  maxRequests?: number;
  /** Record the ack time of each request's payment intent id (for end-to-end latency). */
  recordAcks?: boolean;
  /**
   * The first milliseconds of the stream warm the server and are not recorded (acks, nor `measured`):
   * the measure then starts in a stream already running, not with this process's own start.
   */
  leadInMs?: number;
  runId?: string;
  /** Print every request's latency too (for figures over several bursts). */
  latencies?: boolean;
};

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
const url = new URL(o.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
const latencies: number[] = [];
const acks: [string, number][] = [];
let sent = 0;
let non2xx = 0;
let errors = 0;
let measured = 0;
const started = Date.now();
const recordFrom = started + (o.leadInMs ?? 0);
const deadline = started + o.durationMs;
const fixed = stripeBody('fixed', 0, o.runId ?? 'x');

function once(n: number): Promise<void> {
  const { body, key } =
    o.body === 'stripe' ? { body: stripeBody(o.runId ?? 'r', n, o.runId ?? 'r'), key: `pi_${o.runId}_${n}` } : { body: o.body === 'fixed' ? fixed : undefined, key: '' };
  const headers: http.OutgoingHttpHeaders = { ...o.headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(body);
    if (o.secret) headers['stripe-signature'] = stripeSignature(body, o.secret);
  }
  const t0 = performance.now();
  const recorded = Date.now() >= recordFrom;
  if (recorded) measured++;
  return new Promise((resolve) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: body === undefined ? 'GET' : 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        const ms = performance.now() - t0;
        latencies.push(ms);
        if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) non2xx++;
        else if (o.recordAcks && recorded) acks.push([key, Date.now()]);
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
    req.end(body);
  });
}

async function loop() {
  while (Date.now() < deadline && (o.maxRequests === undefined || sent < o.maxRequests)) {
    const n = sent++;
    if (o.rate) {
      const due = started + (n * 1000) / o.rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (Date.now() >= deadline) break;
    }
    await once(n);
  }
}

await Promise.all(Array.from({ length: o.connections }, loop));
const elapsed = (Date.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
process.stdout.write(
  `${JSON.stringify({
    requests: latencies.length,
    measured,
    rps: latencies.length / elapsed,
    p50: q(0.5),
    p99: q(0.99),
    non2xx,
    errors,
    acks: o.recordAcks ? acks : undefined,
    latencies: o.latencies ? latencies.map((ms) => Math.round(ms * 100) / 100) : undefined,
  })}\n`,
);
agent.destroy();
