-- A random stamp of the cases the store holds, drawn again by every import.
-- With the store's identity and data version it keys the snapshot a replica
-- saves to its data directory: a store restored from a backup and then
-- given other cases can reach the same data version again, but never the
-- same stamp, so a snapshot saved before is never taken for the new cases.
ALTER TABLE store_meta ADD COLUMN data_stamp TEXT;
UPDATE store_meta SET data_stamp = replace(gen_random_uuid()::text, '-', '');
