// What the webhook receivers need to know about programs, cached briefly: they run on every request.
import { eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { DEFAULT_PROGRAM_SLUG } from './default-program.js';
import { programs, type GatewaySettings } from './schema.js';

export type ReceivingProgram = { id: string; livemode: boolean | null; gateways: GatewaySettings };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ProgramDirectory {
  private cache = new Map<string, { at: number; program: ReceivingProgram | null }>();

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5000,
  ) {}

  /** A program by id, or the default program when `id` is undefined; null when there is none. */
  async get(id: string | undefined): Promise<ReceivingProgram | null> {
    if (id !== undefined && !UUID.test(id)) return null;
    const cacheKey = id ?? DEFAULT_PROGRAM_SLUG;
    const hit = this.cache.get(cacheKey);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.program;
    const [row] = await this.db
      .select({ id: programs.id, livemode: programs.livemode, gateways: programs.gateways })
      .from(programs)
      .where(id === undefined ? eq(programs.slug, DEFAULT_PROGRAM_SLUG) : eq(programs.id, id));
    const program = row ?? null;
    this.cache.set(cacheKey, { at: Date.now(), program });
    return program;
  }

  /** Forget a program after its settings changed, so this process's receivers use the new ones at once. */
  invalidate(id: string): void {
    this.cache.delete(id);
    this.cache.delete(DEFAULT_PROGRAM_SLUG);
  }

  async gatewaySettings(id: string): Promise<GatewaySettings | null> {
    return (await this.get(id))?.gateways ?? null;
  }
}
