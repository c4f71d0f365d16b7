-- The words of a block's `terms` filter are hashed eight bytes at a time instead of FNV's
-- byte at a time (src/db/terms.rs, `hash_bytes`): hashing every word of every line was the
-- biggest cost of preparing a block for the store. Filters of the old hash cannot answer
-- for the new one, so they are dropped; NULL means unknown (the block is always a search
-- candidate), and the daemon gives those blocks their new filter in the background at start.
UPDATE log_blocks SET terms = NULL WHERE terms IS NOT NULL;
