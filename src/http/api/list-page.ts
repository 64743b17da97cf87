// Lists of rows with a uuid id (partners, customers, webhooks, referral links) in Partnero's list
// envelope: { data, links, meta, status }, with a keyset `links.next` that reads the next page
// through the index however deep, and that stays valid when a client appends its query again (n8n).
import { micros, UUID } from '../../db/columns.js';
import type { Request, Response } from 'express';
import { and, asc, desc, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Db } from '../../db/client.js';
import { z } from 'zod';
import { LATEST_DAY, collectionUrl, linkQuery, pagination } from './respond.js';

const CURSOR = /^(\d{1,20})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;
const MAX_CURSOR_MICROS = BigInt(Date.parse(`${LATEST_DAY}T23:59:59.999Z`)) * 1000n + 999n;
export type RowCursor = { micros: bigint; id: string };

/** `<created_at in microseconds>.<id>`, as links.next writes it; null when it is not one. */
export function parseRowCursor(value: string): RowCursor | null {
  const m = CURSOR.exec(value);
  if (!m) return null;
  const micros = BigInt(m[1]!);
  return micros <= MAX_CURSOR_MICROS ? { micros, id: m[2]!.toLowerCase() } : null;
}

/** The parameters every such list takes: limit, page, sort and the cursor of links.next. */
export const listParams = (defaultSort: 'asc' | 'desc' = 'asc') => ({
  ...pagination(),
  sort: z.enum(['asc', 'desc']).default(defaultSort),
  cursor: z
    .string()
    .refine((c) => parseRowCursor(c) !== null, 'a cursor from a links.next URL')
    .meta({ description: "from links.next: the last row's created_at in microseconds since the epoch, then its id" })
    .optional(),
});


/** The rows after the cursor, in the list's order, as one range of a (…, created_at, id) index. */
export function afterCursor(createdAt: PgColumn, id: PgColumn, cursor: RowCursor, sort: 'asc' | 'desc'): SQL {
  const at = sql`timestamptz 'epoch' + ${cursor.micros.toString()}::bigint * interval '1 microsecond'`;
  return sort === 'desc' ? sql`(${createdAt}, ${id}) < (${at}, ${cursor.id}::uuid)` : sql`(${createdAt}, ${id}) > (${at}, ${cursor.id}::uuid)`;
}

/** Answer a page: `hasMore` from reading limit + 1 rows; `last` the last row served, for the cursor. */
export function sendPage(
  req: Request,
  res: Response,
  page: { data: unknown[]; total: number; limit: number; page: number; cursor?: string; hasMore: boolean; last?: { micros: string; id: string } },
): void {
  const lastPage = Math.max(1, Math.ceil(page.total / page.limit));
  const base = collectionUrl(req);
  const link = (params: Record<string, string | number | undefined>) => {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...linkQuery(req.query), ...params })) if (v !== undefined) u.set(k, String(v));
    if (params.cursor === undefined) u.delete('cursor');
    return `${base}?${u.toString()}`;
  };
  res.json({
    data: page.data,
    links: {
      first: link({ page: 1, cursor: undefined }),
      last: link({ page: lastPage, cursor: undefined }),
      prev: page.page > 1 && !page.cursor ? link({ page: page.page - 1, cursor: undefined }) : null,
      next: page.hasMore && page.last ? link({ page: page.page + 1, cursor: `${page.last.micros}.${page.last.id}` }) : null,
    },
    meta: { current_page: page.page, last_page: lastPage, per_page: page.limit, total: page.total },
    status: 1,
  });
}

export type ListQuery = { limit: number; page: number; sort: 'asc' | 'desc'; cursor?: string };

/**
 * Answer one page of a list of uuid-keyed rows: `rows` runs the list's own select (its columns, joins
 * and `micros` of created_at) on the rows after the cursor, in the list's order; `total` counts every
 * listed row beside it; `data` turns the rows served into the page's items.
 */
export async function sendRowPage<R extends { micros: string }>(
  req: Request,
  res: Response,
  q: ListQuery,
  list: {
    db: Db;
    table: PgTable;
    createdAt: PgColumn;
    id: PgColumn;
    listed: SQL | undefined;
    rows: (where: SQL | undefined, orderBy: SQL[], limit: number, offset: number) => Promise<R[]>;
    idOf: (row: R) => string;
    data: (served: R[]) => unknown[] | Promise<unknown[]>;
  },
): Promise<void> {
  const cursor = q.cursor ? parseRowCursor(q.cursor) : null;
  const order = q.sort === 'desc' ? [desc(list.createdAt), desc(list.id)] : [asc(list.createdAt), asc(list.id)];
  const [rows, [counted]] = await Promise.all([
    list.rows(cursor ? and(list.listed, afterCursor(list.createdAt, list.id, cursor, q.sort)) : list.listed, order, q.limit + 1, cursor ? 0 : (q.page - 1) * q.limit),
    list.db.select({ n: sql<number>`count(*)::int` }).from(list.table).where(list.listed),
  ]);
  const served = rows.slice(0, q.limit);
  const last = served.at(-1);
  sendPage(req, res, {
    data: await list.data(served),
    total: counted?.n ?? 0,
    limit: q.limit,
    page: q.page,
    cursor: q.cursor,
    hasMore: rows.length > q.limit,
    last: last && { micros: last.micros, id: list.idOf(last) },
  });
}

/** A LIKE pattern matching `value` anywhere, its own % _ \ taken literally. */
export const containing = (value: string) => `%${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export { micros, UUID };
