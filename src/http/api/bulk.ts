// The bulk transactions API: up to 1,000 items in cents, queued at once, reported by run id.
import { Router, type Response } from 'express';
import type { Queue } from 'bullmq';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import type { ProgramRules } from '../../core/program.js';
import type { Db } from '../../db/client.js';
import { bulkRuns } from '../../db/schema.js';
import { bulkJobOptions, type BulkJobData } from '../../queue/queues.js';
import { ApiError } from '../errors.js';
import { BulkItem, runView, type StoredBulkItem } from '../../views/bulk.js';
import { ok, parse } from './respond.js';

export const BULK_MAX_ITEMS = 1000;

export const BulkRequest = z.object({
  options: z
    .object({
      convert_utc: z.boolean().nullish(),
      callback: z.url({ protocol: /^https?$/ }).nullish(),
    })
    .nullish(),
  transactions: z.array(z.unknown()).min(1),
});

export function bulkRouter(deps: { db: Db; bulkQueue: Queue<BulkJobData> }) {
  const { db } = deps;
  const router = Router();
  const program = (res: Response) => res.locals.program as ProgramRules;

  router.post('/v1/transactions/bulk', async (req, res) => {
    const raw = req.body as { transactions?: unknown };
    if (Array.isArray(raw?.transactions) && raw.transactions.length > BULK_MAX_ITEMS) {
      throw new ApiError(413, 'too_many_items', `at most ${BULK_MAX_ITEMS} transactions per request; split them`);
    }
    const body = parse(BulkRequest, req.body, 'bulk request');
    const items: StoredBulkItem[] = body.transactions.map((value, index) => {
      const r = BulkItem.safeParse(value);
      if (r.success) return { index, item: r.data };
      const issue = r.error.issues[0];
      const tid = (value as { tid?: unknown })?.tid;
      return { index, tid: typeof tid === 'string' || typeof tid === 'number' ? String(tid) : null, error: `${issue?.path.join('.') || 'item'}: ${issue?.message}` };
    });
    const [run] = await db
      .insert(bulkRuns)
      .values({
        programId: program(res).id,
        total: items.length,
        items,
        options: { convert_utc: body.options?.convert_utc ?? false },
        callbackUrl: body.options?.callback ?? null,
      })
      .returning({ id: bulkRuns.id });
    try {
      await deps.bulkQueue.add('bulk-run', { runId: run!.id }, { ...bulkJobOptions, jobId: `bulk-${run!.id}` });
    } catch {
      throw new ApiError(503, 'queue_unavailable', 'the queue is not answering; retry later');
    }
    res.json({ status: 200, message: `${items.length} transactions received`, runId: run!.id });
  });

  router.get('/v1/runs/:runId', async (req, res) => {
    const id = String(req.params.runId);
    const [run] = /^[0-9a-f-]{36}$/i.test(id)
      ? await db.select().from(bulkRuns).where(and(eq(bulkRuns.id, id), eq(bulkRuns.programId, program(res).id)))
      : [];
    if (!run) throw new ApiError(404, 'not_found', `no run "${id}"`);
    ok(res, runView(run));
  });
  return router;
}
