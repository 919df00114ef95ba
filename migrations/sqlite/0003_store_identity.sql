-- What binds a store's releases to the store itself.
--
-- store_id: a random identity created once, here. It enters the seed of every
-- release's noise with a digest of the data, so two stores that happen to
-- reach the same data version never share noise.
-- accounting: the privacy accounting (pure or zcdp) the budgets of this store
-- are kept in; recorded at the first start and checked at every later one,
-- since epsilon and rho cannot be added together.
ALTER TABLE store_meta ADD COLUMN store_id TEXT;
UPDATE store_meta SET store_id = lower(hex(randomblob(16))) WHERE store_id IS NULL;
ALTER TABLE store_meta ADD COLUMN accounting TEXT CHECK (accounting IN ('pure', 'zcdp'));

-- The keyed fingerprint of the data a charge's release was computed on: the
-- release key hashes it, so the offline verifier can tell two releases of
-- one query on one data version apart when the data differ. It is an HMAC
-- under the server's secret, so it reveals nothing about the data.
ALTER TABLE ledger ADD COLUMN data_fingerprint TEXT;
