// Small SQL and id helpers the stores and the API's lists share.
import { sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';

/** created_at in microseconds since the epoch, exact (a JS Date keeps milliseconds only). */
export const micros = (createdAt: PgColumn) => sql<string>`(extract(epoch from ${createdAt}) * 1000000)::bigint::text`;

/** A UUID as the API shows ids (partners', customers' and keys'). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
