-- Budgets, stored releases, idempotency and the append-only ledger.
-- All amounts are integer micro-units of epsilon (pure DP) or rho (zCDP).

CREATE TABLE consumers (
    dataset TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('researcher', 'government', 'auditor', 'admin')),
    limit_micro INTEGER NOT NULL CHECK (limit_micro >= 0),
    spent_micro INTEGER NOT NULL DEFAULT 0 CHECK (spent_micro >= 0 AND spent_micro <= limit_micro),
    created_at TEXT NOT NULL,
    PRIMARY KEY (dataset, consumer_id)
);

CREATE TABLE global_budgets (
    dataset TEXT PRIMARY KEY NOT NULL,
    limit_micro INTEGER NOT NULL CHECK (limit_micro >= 0),
    spent_micro INTEGER NOT NULL DEFAULT 0 CHECK (spent_micro >= 0 AND spent_micro <= limit_micro)
);

-- A release is the noisy answer to one canonical query on one data version.
-- Only noisy, post-processed values are stored here.
CREATE TABLE releases (
    release_id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    release_key TEXT NOT NULL UNIQUE,
    canonical_query TEXT NOT NULL,
    data_version INTEGER NOT NULL,
    cost_micro INTEGER NOT NULL CHECK (cost_micro > 0),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Who has paid for which release: a consumer's repeats are free.
CREATE TABLE release_receipts (
    release_id INTEGER NOT NULL REFERENCES releases (release_id),
    dataset TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    charged_micro INTEGER NOT NULL CHECK (charged_micro >= 0),
    created_at TEXT NOT NULL,
    PRIMARY KEY (release_id, consumer_id)
);

CREATE TABLE idempotency_keys (
    consumer_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (consumer_id, idempotency_key)
);

-- The privacy-budget ledger: a hash chain, append-only (see the triggers).
CREATE TABLE ledger (
    seq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    at TEXT NOT NULL,
    dataset TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    role TEXT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    canonical_query TEXT,
    query_hash TEXT,
    cost_micro INTEGER NOT NULL CHECK (cost_micro >= 0),
    consumer_spent_micro INTEGER,
    consumer_limit_micro INTEGER,
    global_spent_micro INTEGER,
    data_version INTEGER,
    idempotency_key TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX ledger_consumer ON ledger (consumer_id, seq);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: UPDATE refused');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'ledger is append-only: DELETE refused');
END;

-- Signed checkpoints of the ledger head; the signing key never enters the database.
CREATE TABLE checkpoints (
    dataset TEXT NOT NULL,
    size INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (dataset, size, at)
);
