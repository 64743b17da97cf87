// The payment queue as a command adds to it: on the backend the service uses (QUEUE_BACKEND, decided
// as at start), so replayed and reconciled events reach the worker that runs.
import type { Config } from '../config.js';
import { PostgresQueues } from '../queue/backend.js';
import { chooseQueueBackend, type QueueBackendName } from '../queue/backend-choice.js';
import { PaymentProducer, type ProducerOptions } from '../queue/producer.js';
import { pingRedis, producerConnection } from '../queue/redis.js';

export async function openPaymentProducer(
  config: Config,
  options: ProducerOptions = {},
): Promise<{ producer: PaymentProducer; backend: QueueBackendName; close(): Promise<void> }> {
  const { backend } = await chooseQueueBackend(config);
  // the producer on a connection; closed, the producer first, then what it ran on
  const ready = async (connection: ConstructorParameters<typeof PaymentProducer>[0], release: () => Promise<void> | void) => {
    const producer = new PaymentProducer(connection, config.QUEUE_PREFIX, options);
    await producer.queue.waitUntilReady();
    return {
      producer,
      backend,
      async close() {
        await producer.close();
        await release();
      },
    };
  };
  if (backend === 'postgres') {
    // a command adds a few jobs: a small pool, and the schema made ready in case no service ran yet
    const queues = new PostgresQueues(config.DATABASE_URL, { max: 2 });
    try {
      await queues.migrate();
    } catch (err) {
      await queues.close();
      throw err;
    }
    return ready(queues, () => queues.close());
  }
  await pingRedis(config.REDIS_URL);
  const redis = producerConnection(config.REDIS_URL);
  redis.on('error', () => {});
  return ready(redis, () => redis.disconnect());
}
