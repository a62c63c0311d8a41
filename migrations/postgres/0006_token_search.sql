-- Text search on tokens (Access Tokens list, GET /access/api/v1/tokens?q=): one lower-cased
-- text per token — description, Token ID, hint, target (fleet key or device UUID) and the
-- owner's username, separated by line feeds (which a search cannot contain, so no match spans
-- two fields) — with a pg_trgm GIN index, which serves `LIKE '%…%'` (checked again on each row).
-- (Rows older than this migration are lower-cased here by PostgreSQL's LOWER, which follows the
-- database's locale; new ones by the application.)
-- pg_trgm ships with PostgreSQL and is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE tokens ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE tokens SET search_text =
    LOWER(description) || E'\n' || LOWER(id) || E'\n' || LOWER(hint) || E'\n'
    || LOWER(COALESCE(target_fleet, target_device, '')) || E'\n'
    || LOWER(COALESCE((SELECT username FROM users WHERE users.id = tokens.user_id), ''));
CREATE INDEX tokens_search ON tokens USING gin (search_text gin_trgm_ops);
