-- Regional partners (role `regional`: a region's secretariat) hold budgets
-- like every other consumer.
ALTER TABLE consumers DROP CONSTRAINT consumers_role_check;
ALTER TABLE consumers ADD CONSTRAINT consumers_role_check
    CHECK (role IN ('researcher', 'government', 'regional', 'auditor', 'admin'));
