-- Regional partners (role `regional`: a region's secretariat) hold budgets
-- like every other consumer. SQLite cannot change a CHECK constraint in
-- place, so the table is rebuilt with every row kept (one transaction).
CREATE TABLE consumers_new (
    dataset TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('researcher', 'government', 'regional', 'auditor', 'admin')),
    limit_micro INTEGER NOT NULL CHECK (limit_micro >= 0),
    spent_micro INTEGER NOT NULL DEFAULT 0 CHECK (spent_micro >= 0 AND spent_micro <= limit_micro),
    created_at TEXT NOT NULL,
    PRIMARY KEY (dataset, consumer_id)
);
INSERT INTO consumers_new (dataset, consumer_id, role, limit_micro, spent_micro, created_at)
    SELECT dataset, consumer_id, role, limit_micro, spent_micro, created_at FROM consumers;
DROP TABLE consumers;
ALTER TABLE consumers_new RENAME TO consumers;
