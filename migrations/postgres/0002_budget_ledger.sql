-- Budgets, stored releases, idempotency and the append-only ledger.
-- All amounts are integer micro-units of epsilon (pure DP) or rho (zCDP).

CREATE TABLE consumers (
    dataset TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('researcher', 'government', 'auditor', 'admin')),
    limit_micro BIGINT NOT NULL CHECK (limit_micro >= 0),
    spent_micro BIGINT NOT NULL DEFAULT 0 CHECK (spent_micro >= 0 AND spent_micro <= limit_micro),
    created_at TEXT NOT NULL,
    PRIMARY KEY (dataset, consumer_id)
);

CREATE TABLE global_budgets (
    dataset TEXT PRIMARY KEY NOT NULL,
    limit_micro BIGINT NOT NULL CHECK (limit_micro >= 0),
    spent_micro BIGINT NOT NULL DEFAULT 0 CHECK (spent_micro >= 0 AND spent_micro <= limit_micro)
);

-- A release is the noisy answer to one canonical query on one data version.
-- Only noisy, post-processed values are stored here.
CREATE TABLE releases (
    release_id BIGSERIAL PRIMARY KEY,
    dataset TEXT NOT NULL,
    release_key TEXT NOT NULL UNIQUE,
    canonical_query TEXT NOT NULL,
    data_version BIGINT NOT NULL,
    cost_micro BIGINT NOT NULL CHECK (cost_micro > 0),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Who has paid for which release: a consumer's repeats are free.
CREATE TABLE release_receipts (
    release_id BIGINT NOT NULL REFERENCES releases (release_id),
    dataset TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    charged_micro BIGINT NOT NULL CHECK (charged_micro >= 0),
    created_at TEXT NOT NULL,
    PRIMARY KEY (release_id, consumer_id)
);

CREATE TABLE idempotency_keys (
    consumer_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (consumer_id, idempotency_key)
);

-- The privacy-budget ledger: a hash chain, append-only (see the triggers).
CREATE TABLE ledger (
    seq BIGINT PRIMARY KEY CHECK (seq >= 1),
    at TEXT NOT NULL,
    dataset TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    role TEXT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    canonical_query TEXT,
    query_hash TEXT,
    cost_micro BIGINT NOT NULL CHECK (cost_micro >= 0),
    consumer_spent_micro BIGINT,
    consumer_limit_micro BIGINT,
    global_spent_micro BIGINT,
    data_version BIGINT,
    idempotency_key TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX ledger_consumer ON ledger (consumer_id, seq);

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- Signed checkpoints of the ledger head; the signing key never enters the database.
CREATE TABLE checkpoints (
    dataset TEXT NOT NULL,
    size BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (dataset, size, at)
);
