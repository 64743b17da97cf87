-- GIN indexes of waiting refunds and disputes without a pending list: every refund inserted since the
-- last vacuum sat in it and each batch's lookup read it whole (59 ms at 11,000 refunds).
ALTER INDEX "disputes_pending_refs_idx" SET (fastupdate = false);--> statement-breakpoint
ALTER INDEX "refunds_pending_refs_idx" SET (fastupdate = false);--> statement-breakpoint
SELECT gin_clean_pending_list('disputes_pending_refs_idx'::regclass);--> statement-breakpoint
SELECT gin_clean_pending_list('refunds_pending_refs_idx'::regclass);
