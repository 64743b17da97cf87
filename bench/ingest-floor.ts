// The ingest floor: the least a receiver with a durable inbox can do per webhook, built from the
// service's own parts: Stripe's verification through the adapter (the official SDK), the grouped
// inbox insert and a grouped queue add of a job carrying the inbox row's id, behind node's http server
// (FLOOR_HTTP=node, the default) or behind an express 5 route reading the raw body as bare express
// does (FLOOR_HTTP=express: the least a receiver on the project's chosen stack can do). No program
// lookup, normalization, request id, log line or metrics. Not a receiver: what the bench measures
// beside bare express to show how much of the ingest target the stores leave.
//   DATABASE_URL, REDIS_URL, QUEUE_PREFIX, PROGRAM_ID, STRIPE_WEBHOOK_SECRET, FLOOR_HTTP; prints its port.
import http from 'node:http';
import express from 'express';
import { connect } from '../src/db/client.js';
import { stripeAdapter } from '../src/gateways/stripe/index.js';
import { inboxGroup } from '../src/ingest/grouped-writes.js';
import { PaymentProducer } from '../src/queue/producer.js';
import { producerConnection } from '../src/queue/redis.js';

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const programId = env('PROGRAM_ID');
const settings = { webhookSecrets: [env('STRIPE_WEBHOOK_SECRET')] };
const database = connect(env('DATABASE_URL'));
const inbox = inboxGroup(database.pool);
const redis = producerConnection(env('REDIS_URL'));
const producer = new PaymentProducer(redis, env('QUEUE_PREFIX'));
await producer.queue.waitUntilReady();

const OK = Buffer.from(JSON.stringify({ received: true }));
function answer(res: http.ServerResponse, status: number, body: Buffer = OK) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

async function receive(rawBody: Buffer, headers: http.IncomingHttpHeaders): Promise<number> {
  const verdict = stripeAdapter.verify({ rawBody, headers, now: new Date() }, settings);
  if (verdict.kind !== 'verified') return 400;
  const inboxId = await inbox.add({
    programId,
    gateway: 'stripe',
    eventId: verdict.eventId,
    eventType: verdict.eventType,
    livemode: verdict.livemode ?? null,
    rawBody: rawBody.toString('utf8'),
    headers: {},
    status: 'queued',
  });
  if (inboxId === null) return 200; // a redelivery
  await producer.add({ programId, inboxId: inboxId.toString(), source: 'webhook', events: [] }, { gateway: 'stripe', eventId: verdict.eventId, eventType: verdict.eventType });
  return 200;
}

const onBody = (rawBody: Buffer, headers: http.IncomingHttpHeaders, res: http.ServerResponse) =>
  receive(rawBody, headers).then(
    (status) => answer(res, status),
    () => answer(res, 503),
  );
let server: http.Server;
if (process.env.FLOOR_HTTP === 'express') {
  const app = express();
  app.post('/webhooks/stripe', express.raw({ type: () => true, limit: 1_048_576 }), (req, res) => void onBody(req.body as Buffer, req.headers, res));
  server = http.createServer(app);
} else {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void onBody(Buffer.concat(chunks), req.headers, res));
  });
}
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void Promise.allSettled([producer.close(), database.close()]).then(() => process.exit(0));
});
