// A customer as the REST API and the outbound webhooks show it.
import type { CustomerRow } from '../db/customer-reads.js';
import { timestamp } from './time.js';

export const customerView = (r: CustomerRow) => ({
  id: r.c.id,
  key: r.c.key,
  email: r.c.email,
  name: r.c.name,
  surname: r.c.surname,
  partner: r.partnerKey,
  referring_customer: r.referringKey,
  /** `referral_link`: linked by a po.js signup after a referral link visit (its rewards start in review); else null. */
  linked_by: r.c.partnerId || r.c.referringCustomerId ? (r.c.linkedBy ?? null) : null,
  status: r.c.deletedAt ? 'deleted' : r.c.archivedAt ? 'archived' : 'active',
  created_at: timestamp(r.c.createdAt),
  updated_at: timestamp(r.c.updatedAt),
  archived_at: timestamp(r.c.archivedAt),
  deleted_at: timestamp(r.c.deletedAt),
});
