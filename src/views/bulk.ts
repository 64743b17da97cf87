// The bulk API's shapes: an item as POST /v1/transactions/bulk takes it (the worker processes it as
// stored), and a run as GET /v1/runs/{runId} and the completion callback show it.
import { z } from 'zod';
import type { bulkRuns } from '../db/schema.js';
import { timestamp } from './time.js';

const cents = z.union([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.string().regex(/^\d{1,18}$/)]);
export const BulkItem = z.object({
  cid: z.union([z.string().trim().min(1).max(255), z.number().int()]).transform(String),
  tid: z.union([z.string().trim().min(1).max(255), z.number().int()]).transform(String).nullish(),
  total: cents,
  subtotal: cents.nullish(),
  tax: cents.nullish(),
  date: z.union([z.iso.datetime({ offset: true }), z.iso.datetime({ local: true }), z.iso.date(), z.string().regex(/^\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?$/), z.number().int().positive()]).nullish(),
});
export type BulkItem = z.infer<typeof BulkItem>;

/** A stored item: the validated fields, or why it was refused (reported with the run). */
export type StoredBulkItem = { index: number; item?: BulkItem; error?: string; tid?: string | null };

export function runView(run: typeof bulkRuns.$inferSelect) {
  return {
    id: run.id,
    status: run.status,
    total: run.total,
    processed: run.processed,
    succeeded: run.succeeded,
    failed: run.failed,
    errors: run.errors,
    callback: run.callbackUrl ? { url: run.callbackUrl, status: run.callbackStatus } : null,
    created_at: timestamp(run.createdAt),
    completed_at: timestamp(run.completedAt),
  };
}
