import { QueueEvents, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentEventInput } from '../../src/core/payment-event.js';
import { createLogger } from '../../src/logger.js';
import { PaymentProducer, QueueUnavailableError } from '../../src/queue/producer.js';
import { PAYMENT_EVENTS_QUEUE, type PaymentJobData } from '../../src/queue/queues.js';
import { producerConnection, workerConnection } from '../../src/queue/redis.js';
import { createPaymentWorker } from '../../src/queue/worker.js';
import { TEST_REDIS_URL } from '../support/env.js';
import { freePort } from '../support/ports.js';
import { removePrefix, testPrefix } from '../support/redis.js';

const prefix = testPrefix();
const programId = '5a0c6f0e-8a4f-4bd4-9a53-0a3f7c1d2e11';
const payment = (eventId: string): PaymentEventInput => ({
  kind: 'payment',
  gateway: 'stripe',
  eventId,
  eventType: 'payment_intent.succeeded',
  occurredAt: '2026-11-01T10:00:00.000Z',
  transactionKey: `pi_${eventId}`,
  aliases: [],
  amount: { minor: '4900', currency: 'USD' },
  customer: { id: 'cus_1' },
  lookups: [],
});

const producerRedis = producerConnection(TEST_REDIS_URL);
const producer = new PaymentProducer(producerRedis, prefix);
const events = new QueueEvents(PAYMENT_EVENTS_QUEUE, { connection: { url: TEST_REDIS_URL }, prefix });
const seen: PaymentJobData[] = [];
const workerRedis = workerConnection(TEST_REDIS_URL);
const worker = createPaymentWorker({
  connection: workerRedis,
  prefix,
  concurrency: 4,
  logger: createLogger('silent'),
  process: async (data) => {
    seen.push(data);
    return { ok: true };
  },
});

beforeAll(async () => {
  await producer.queue.waitUntilReady();
  await events.waitUntilReady();
  void worker.run();
  await worker.waitUntilReady();
});
afterAll(async () => {
  await worker.close();
  await events.close();
  await producer.close();
  workerRedis.disconnect();
  producerRedis.disconnect();
  await removePrefix(prefix);
});

describe('payment queue', () => {
  it('carries a validated event from producer to worker', async () => {
    const jobId = await producer.add(
      { programId, source: 'webhook', inboxId: '7', events: [payment('evt_1')] },
      { gateway: 'stripe', eventId: 'evt_1' },
    );
    expect(jobId).toBe(`stripe-${programId}-evt_1`);
    const job = await producer.queue.getJob(jobId);
    await job!.waitUntilFinished(events, 5000);
    expect(seen.at(-1)?.events[0]).toMatchObject({ eventId: 'evt_1', amount: { minor: '4900', currency: 'USD' } });
  });

  it('makes job ids free of ":" so any gateway event id is accepted', async () => {
    const jobId = await producer.add(
      { programId, source: 'webhook', events: [payment('a:b')] },
      { gateway: 'stripe', eventId: 'a:b' },
    );
    expect(jobId).not.toContain(':');
  });

  it('fails a job whose data breaks the contract once, with a readable reason, without retries', async () => {
    const job = await producer.queue.add('stripe', {
      programId,
      source: 'webhook',
      events: [{ ...payment('evt_bad'), amount: { minor: '49.00', currency: 'USD' } }],
    } as PaymentJobData, { attempts: 5, jobId: 'bad-1' });
    await expect(job.waitUntilFinished(events, 5000)).rejects.toThrow(
      /^payload: events\.0\.amount\.minor: integer minor units as a digit string$/,
    );
    const failed = (await producer.queue.getJob('bad-1')) as Job;
    expect(failed.attemptsMade).toBe(1);
    expect(await failed.getState()).toBe('failed');
  });

  it('refuses at once when Redis is down, so a receiver can answer 503', async () => {
    const dead = producerConnection(`redis://127.0.0.1:${await freePort()}`);
    dead.on('error', () => {});
    const offline = new PaymentProducer(dead, prefix);
    const started = Date.now();
    await expect(
      offline.add({ programId, source: 'webhook', events: [payment('evt_x')] }, { gateway: 'stripe', eventId: 'evt_x' }),
    ).rejects.toBeInstanceOf(QueueUnavailableError);
    expect(Date.now() - started).toBeLessThan(1000);
    dead.disconnect();
    await offline.close().catch(() => {});
  });

  it('finishes the job in flight when closed (graceful shutdown)', async () => {
    const ownPrefix = testPrefix();
    const ownProducerRedis = producerConnection(TEST_REDIS_URL);
    const ownProducer = new PaymentProducer(ownProducerRedis, ownPrefix);
    await ownProducer.queue.waitUntilReady();
    const ownWorkerRedis = workerConnection(TEST_REDIS_URL);
    const finished: string[] = [];
    const slow = createPaymentWorker({
      connection: ownWorkerRedis,
      prefix: ownPrefix,
      concurrency: 1,
      logger: createLogger('silent'),
      process: async (data) => {
        await new Promise((r) => setTimeout(r, 700));
        finished.push(data.events[0]!.eventId);
      },
    });
    void slow.run();
    const jobId = await ownProducer.add(
      { programId, source: 'api', events: [payment('evt_slow')] },
      { gateway: 'api', eventId: 'evt_slow' },
    );
    const job = (await ownProducer.queue.getJob(jobId))!;
    while ((await job.getState()) !== 'active') await new Promise((r) => setTimeout(r, 20));
    await slow.close();
    expect(finished).toEqual(['evt_slow']);
    expect(await job.getState()).toBe('completed');
    await ownProducer.close();
    ownProducerRedis.disconnect();
    ownWorkerRedis.disconnect();
    await removePrefix(ownPrefix);
  });
});
