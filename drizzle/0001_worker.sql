CREATE TABLE "disputes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"program_id" uuid NOT NULL,
	"gateway" text NOT NULL,
	"dispute_id" text NOT NULL,
	"payment_refs" text[] NOT NULL,
	"status" text NOT NULL,
	"transaction_id" bigint,
	"occurred_at" timestamp (6) with time zone NOT NULL,
	"applied_at" timestamp (6) with time zone,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "refunds" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"program_id" uuid NOT NULL,
	"gateway" text NOT NULL,
	"refund_id" text NOT NULL,
	"payment_refs" text[] NOT NULL,
	"amount_minor" bigint,
	"currency" text,
	"cumulative" boolean DEFAULT false NOT NULL,
	"transaction_id" bigint,
	"occurred_at" timestamp (6) with time zone NOT NULL,
	"applied_at" timestamp (6) with time zone,
	"created_at" timestamp (6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "transaction_refs" (
	"program_id" uuid NOT NULL,
	"ref" text NOT NULL,
	"transaction_id" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "bulk_runs" ADD COLUMN "processed" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "bulk_runs" ADD COLUMN "items" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "customers" ADD COLUMN "per_partner" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "transactions" ADD COLUMN "dispute_status" text;--> statement-breakpoint
ALTER TABLE "disputes" ADD CONSTRAINT "disputes_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "disputes" ADD CONSTRAINT "disputes_transaction_id_transactions_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."transactions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_transaction_id_transactions_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."transactions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transaction_refs" ADD CONSTRAINT "transaction_refs_program_id_programs_id_fk" FOREIGN KEY ("program_id") REFERENCES "public"."programs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transaction_refs" ADD CONSTRAINT "transaction_refs_transaction_id_transactions_id_fk" FOREIGN KEY ("transaction_id") REFERENCES "public"."transactions"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "disputes_program_gateway_dispute_uq" ON "disputes" USING btree ("program_id","gateway","dispute_id");--> statement-breakpoint
CREATE INDEX "disputes_pending_refs_idx" ON "disputes" USING gin ("payment_refs") WHERE "disputes"."applied_at" is null;--> statement-breakpoint
CREATE INDEX "refunds_transaction_idx" ON "refunds" USING btree ("transaction_id");--> statement-breakpoint
CREATE UNIQUE INDEX "refunds_program_gateway_refund_uq" ON "refunds" USING btree ("program_id","gateway","refund_id");--> statement-breakpoint
CREATE INDEX "refunds_pending_refs_idx" ON "refunds" USING gin ("payment_refs") WHERE "refunds"."applied_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "transaction_refs_program_ref_uq" ON "transaction_refs" USING btree ("program_id","ref");--> statement-breakpoint
CREATE INDEX "transaction_refs_transaction_idx" ON "transaction_refs" USING btree ("transaction_id");