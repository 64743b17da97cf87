// A partner as the REST API and the outbound webhooks show it.
import type { partners } from '../db/schema.js';
import { timestamp } from './time.js';

type PartnerRow = typeof partners.$inferSelect;

export const partnerView = (p: PartnerRow) => ({
  id: p.id,
  key: p.key,
  email: p.email,
  name: p.name,
  surname: p.surname,
  referral_code: p.referralCode,
  tags: p.tags ?? [],
  status: p.deletedAt ? 'deleted' : p.archivedAt ? 'archived' : 'active',
  created_at: timestamp(p.createdAt),
  updated_at: timestamp(p.updatedAt),
  archived_at: timestamp(p.archivedAt),
  deleted_at: timestamp(p.deletedAt),
});
