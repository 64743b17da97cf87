// BullMQ needs Redis's maxmemory-policy to be `noeviction`: a Redis that evicts keys when it is full
// drops queued jobs (and their locks) without a word, after the webhook was acknowledged. With
// `noeviction` a full Redis refuses writes instead (OOM), the receiver answers 503, and nothing
// acknowledged is lost. Read with CONFIG GET, or from INFO memory where CONFIG is not allowed (managed
// Redis services often rename or forbid it).
import type { Redis } from 'ioredis';

export const REQUIRED_POLICY = 'noeviction';

export type EvictionPolicy =
  | { policy: string; source: 'config' | 'info' }
  /** Neither CONFIG GET nor INFO answered (not allowed, or Redis did not answer): why. */
  | { policy: null; error: string };

const message = (err: unknown) => (err as Error).message ?? String(err);

/** The maxmemory-policy of the Redis behind `redis`; `skipConfig` when CONFIG is known to be refused. */
export async function readEvictionPolicy(redis: Redis, opts: { skipConfig?: boolean } = {}): Promise<EvictionPolicy> {
  let configError = 'not asked';
  if (!opts.skipConfig) {
    try {
      const answer = (await redis.config('GET', 'maxmemory-policy')) as unknown;
      const pair = Array.isArray(answer) ? answer : [];
      if (typeof pair[1] === 'string' && pair[1]) return { policy: pair[1], source: 'config' };
      configError = 'CONFIG GET maxmemory-policy gave no value';
    } catch (err) {
      configError = message(err);
    }
  }
  try {
    const info = await redis.info('memory');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (policy) return { policy, source: 'info' };
    return { policy: null, error: `${configError}; INFO memory has no maxmemory_policy` };
  } catch (err) {
    return { policy: null, error: `${configError}; ${message(err)}` };
  }
}

/** A reader for repeated use (/readyz): once CONFIG has been refused and INFO answered, INFO only. */
export function evictionPolicyReader(redis: Redis): () => Promise<EvictionPolicy> {
  let configRefused = false;
  return async () => {
    const found = await readEvictionPolicy(redis, { skipConfig: configRefused });
    if (found.policy !== null && found.source === 'info') configRefused = true;
    return found;
  };
}
