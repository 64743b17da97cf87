// Redis connections. The producer fails fast when Redis is down (a receiver answers 503 at once);
// the worker's connection waits and reconnects, as BullMQ requires for blocking commands.
import { Redis, type RedisOptions } from 'ioredis';

export function producerConnection(url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // keep trying to reconnect in the background, at most every 2 s
    retryStrategy: (times) => Math.min(times * 200, 2000),
  } satisfies RedisOptions);
}

export function workerConnection(url: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

/** Connect once, answer PING, then disconnect: start-up's "is Redis there?" check. */
export async function pingRedis(url: string, timeoutMs = 2000): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  let lastError: Error | undefined;
  client.on('error', (err: Error) => (lastError = err));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    // ioredis reports "Connection is closed"; the socket's own error says why
    throw lastError ?? err;
  } finally {
    client.disconnect();
  }
}
