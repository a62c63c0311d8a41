-- Text search on tokens (Access Tokens list, GET /access/api/v1/tokens?q=): one lower-cased
-- text per token — description, Token ID, hint, target (fleet key or device UUID) and the
-- owner's username, separated by line feeds (which a search cannot contain, so no match spans
-- two fields) — and a trigram full-text index over it (FTS5, `case_sensitive 1`: the text and
-- the search are lower-cased by the application, so both databases fold case alike).
-- Every hit is checked again with LIKE on the token's own text: the index only narrows.
-- The index keeps the Token ID rather than the table's implicit rowid, which VACUUM may renumber.
-- (Rows older than this migration are lower-cased here by SQLite's LOWER, ASCII only.)
ALTER TABLE tokens ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE tokens SET search_text =
    LOWER(description) || char(10) || LOWER(id) || char(10) || LOWER(hint) || char(10)
    || LOWER(COALESCE(target_fleet, target_device, '')) || char(10)
    || LOWER(COALESCE((SELECT username FROM users WHERE users.id = tokens.user_id), ''));

CREATE VIRTUAL TABLE tokens_search USING fts5(
    token_id UNINDEXED,
    search_text,
    tokenize = 'trigram case_sensitive 1'
);
INSERT INTO tokens_search (token_id, search_text) SELECT id, search_text FROM tokens;
CREATE TRIGGER tokens_search_insert AFTER INSERT ON tokens BEGIN
    INSERT INTO tokens_search (token_id, search_text) VALUES (NEW.id, NEW.search_text);
END;
-- Nothing in the product deletes a token (they are revoked); a deleted one (with its user, say)
-- leaves the index here. The search text never changes after the insert.
CREATE TRIGGER tokens_search_delete AFTER DELETE ON tokens BEGIN
    DELETE FROM tokens_search WHERE token_id = OLD.id;
END;
