// Which store holds the queues, decided once at start: QUEUE_BACKEND when set; otherwise Redis when
// REDIS_URL is set or a Redis answers at the default address, PostgreSQL (the service's own database)
// when none does. Loads ioredis only, not BullMQ: start-up asks this before loading the rest.
import { pingRedis } from './redis.js';

export const QUEUE_BACKENDS = ['redis', 'postgres'] as const;
export type QueueBackendName = (typeof QUEUE_BACKENDS)[number];

export type QueueBackendChoice = { backend: QueueBackendName; why: string };

export async function chooseQueueBackend(config: {
  QUEUE_BACKEND?: QueueBackendName;
  REDIS_URL: string;
  REDIS_URL_SET: boolean;
}): Promise<QueueBackendChoice> {
  if (config.QUEUE_BACKEND) return { backend: config.QUEUE_BACKEND, why: `QUEUE_BACKEND=${config.QUEUE_BACKEND}` };
  if (config.REDIS_URL_SET) return { backend: 'redis', why: 'REDIS_URL is set' };
  // REDIS_URL unset: the default address, which carries no password to keep out of the logs
  try {
    await pingRedis(config.REDIS_URL, 1000);
    return { backend: 'redis', why: `a Redis answers at ${config.REDIS_URL}` };
  } catch {
    return { backend: 'postgres', why: `no REDIS_URL and no Redis answers at ${config.REDIS_URL}` };
  }
}
