-- A ref is checked through its transaction (whose program is checked) and goes when the transaction
-- goes: its own key on programs cost the worker a query per stored ref, two or three a payment.
ALTER TABLE "transaction_refs" DROP CONSTRAINT "transaction_refs_program_id_programs_id_fk";
--> statement-breakpoint
ALTER TABLE "transaction_refs" DROP CONSTRAINT "transaction_refs_transaction_id_transactions_id_fk";
--> statement-breakpoint
ALTER TABLE "transaction_refs" ADD CONSTRAINT "transaction_refs_transaction_id_transactions_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."transactions"("id") ON DELETE cascade ON UPDATE no action;