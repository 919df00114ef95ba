-- The unit of privacy (person or case) the budgets of this store are kept
-- per: recorded at the first start beside the accounting and checked at
-- every later one. An epsilon spent per case record is not an epsilon per
-- person, so a store's ledger is never continued under another unit.
ALTER TABLE store_meta ADD COLUMN privacy_unit TEXT CHECK (privacy_unit IN ('person', 'case'));
