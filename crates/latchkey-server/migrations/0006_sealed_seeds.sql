-- Voucher signing seeds sealed at rest (see src/vouchers/seal.rs): a key's seed is stored either
-- as before (`seed`, 32 bytes: no seal key configured) or only sealed (`sealed_seed`,
-- XChaCha20-Poly1305 under the operator's seal key, 72 bytes), never both. Existing plaintext
-- seeds are sealed by the next `voucher issue` or `keys rotate` run with a seal key.
-- Forward-only: never edit this file once shipped.

ALTER TABLE voucher_keys ALTER COLUMN seed DROP NOT NULL;
ALTER TABLE voucher_keys DROP CONSTRAINT voucher_keys_seed_check;
ALTER TABLE voucher_keys ADD CONSTRAINT voucher_keys_seed_length
    CHECK (seed IS NULL OR length(seed) = 32);
ALTER TABLE voucher_keys ADD COLUMN sealed_seed bytea
    CONSTRAINT voucher_keys_sealed_seed_length CHECK (length(sealed_seed) = 72);
ALTER TABLE voucher_keys ADD CONSTRAINT voucher_keys_one_form_of_seed
    CHECK ((seed IS NULL) <> (sealed_seed IS NULL));
