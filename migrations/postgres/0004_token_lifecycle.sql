-- Token lifecycle (PRODUCT.md §11): allowed client networks (comma-separated CIDRs, empty for
-- any; read with the token on every request), the rotation chain (a token has at most one
-- successor: the conditional update that sets it is what makes a double rotation yield one),
-- and where the last accepted use came from.
ALTER TABLE tokens ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN predecessor_id TEXT;
ALTER TABLE tokens ADD COLUMN successor_id TEXT;
ALTER TABLE tokens ADD COLUMN last_used_ip TEXT;
ALTER TABLE tokens ADD COLUMN last_used_agent TEXT;
CREATE UNIQUE INDEX tokens_successor ON tokens (successor_id) WHERE successor_id IS NOT NULL;
CREATE INDEX tokens_predecessor ON tokens (predecessor_id) WHERE predecessor_id IS NOT NULL;
CREATE INDEX audit_by_token ON audit_events (token_id, id) WHERE token_id IS NOT NULL;
