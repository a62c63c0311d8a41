-- Refused token uses are aggregated: one row per token, reason, source address and minute, with
-- how many there were and when the last one was (SECURITY.md 23). Other entries keep count 1.
ALTER TABLE audit_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN last_at INTEGER;
ALTER TABLE audit_events ADD COLUMN refusal_key TEXT;
CREATE UNIQUE INDEX audit_refusal_key ON audit_events (refusal_key) WHERE refusal_key IS NOT NULL;
