// Puts payment events on the queue. With the offline queue off, a Redis outage is an immediate error.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { PAYMENT_EVENTS_QUEUE, paymentJobId, paymentJobOptions, type PaymentJobInput } from './queues.js';

export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';
}

export class PaymentProducer {
  readonly queue: Queue<PaymentJobInput>;

  constructor(
    private readonly connection: Redis,
    prefix: string,
  ) {
    this.queue = new Queue<PaymentJobInput>(PAYMENT_EVENTS_QUEUE, { connection, prefix });
    // errors surface on each add; an unhandled 'error' event would crash the process
    this.queue.on('error', () => {});
  }

  /** Queue one gateway event (or one API request); the job id dedupes concurrent deliveries. */
  async add(data: PaymentJobInput, dedupeKey: { gateway: string; eventId: string }): Promise<string> {
    const jobId = paymentJobId(data.programId, dedupeKey.gateway, dedupeKey.eventId);
    // BullMQ would wait for a reconnect; a webhook sender must hear "try again" now instead
    if (this.connection.status !== 'ready') {
      throw new QueueUnavailableError(`queue unavailable: Redis connection is ${this.connection.status}`);
    }
    try {
      await this.queue.add(dedupeKey.gateway, data, { ...paymentJobOptions, jobId });
    } catch (err) {
      throw new QueueUnavailableError(`queue unavailable: ${(err as Error).message}`);
    }
    return jobId;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
