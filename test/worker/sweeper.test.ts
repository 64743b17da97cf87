// The inbox sweeper behind a backlog: more queued rows than one page, all with their jobs waiting
// (no worker runs here), and behind them a row whose job the queue lost. The sweeper must walk past
// the backlog and queue the lost one, and queue nothing twice.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookEvents } from '../../src/db/schema.js';
import { paymentJobId } from '../../src/queue/queues.js';
import { SWEEP_PAGE_SIZE, sweepInbox } from '../../src/worker/sweeper.js';
import { gatewayEnv, paymentDelivery, pool, send, type Sale } from '../support/deliveries.js';
import { startTestService, type TestService } from '../support/service.js';

let svc: TestService;
const BACKLOG = SWEEP_PAGE_SIZE + 40;

const sale = (i: number): Sale => ({
  gateway: 'stripe',
  id: `sweep${i}`,
  n: 2_000_000 + i,
  amountMinor: 4900n,
  currency: 'USD',
  partnerKey: 'ptn_none',
  customer: i,
});

beforeAll(async () => {
  // the API only: jobs stay waiting in the queue, as behind a slow or stopped worker
  svc = await startTestService({ ...gatewayEnv(), PROCESS_ROLE: 'api' });
});
afterAll(async () => {
  await svc?.stop();
});

describe('inbox sweeper', () => {
  it(`reaches a lost row behind a backlog of ${BACKLOG} queued rows, and queues nothing twice`, async () => {
    const deliveries = Array.from({ length: BACKLOG }, (_, i) => paymentDelivery(sale(i)));
    const answers = await pool(deliveries, 8, (d) => send(svc.url, d));
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const lost = paymentDelivery(sale(BACKLOG));
    expect((await send(svc.url, lost)).status).toBe(200);
    // the queue loses the newest event's job (an eviction, a flushed Redis)
    const producer = svc.service.producer!;
    const lostJobId = paymentJobId(svc.programId, 'stripe', lost.eventId);
    await (await producer.queue.getJob(lostJobId))!.remove();
    const waitingBefore = await producer.queue.getWaitingCount();
    expect(waitingBefore).toBe(BACKLOG);

    const swept = await sweepInbox(svc.db.db, producer, { olderThanSeconds: 0 });
    expect(swept).toMatchObject({ checked: BACKLOG + 1, requeued: 1, failed: 0 });
    expect(await producer.queue.getJob(lostJobId)).toBeTruthy();
    expect(await producer.queue.getWaitingCount()).toBe(BACKLOG + 1);
    const [row] = await svc.db.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, lost.eventId));
    expect(row?.status).toBe('queued');

    // a second sweep finds every job in place
    expect(await sweepInbox(svc.db.db, producer, { olderThanSeconds: 0 })).toMatchObject({ requeued: 0 });
    expect(await producer.queue.getWaitingCount()).toBe(BACKLOG + 1);
  }, 60_000);
});
