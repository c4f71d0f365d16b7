-- Back to the FNV hash of 000007: the filters of the new hash mean nothing to it. NULL
-- blocks are candidates for every search; that daemon refills them at start.
UPDATE log_blocks SET terms = NULL WHERE terms IS NOT NULL;
