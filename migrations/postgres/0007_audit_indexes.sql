-- The Audit Log's filters read indexes newest first (keyset pagination on the id): by action (a
-- filter group is a union of its actions), and by a whole actor or target (any case) with each
-- action, or by Token ID (the token index exists: audit_by_token) — store/audit.rs.
CREATE INDEX audit_by_action_id ON audit_events (action, id);
CREATE INDEX audit_by_actor ON audit_events (LOWER(actor), action, id);
CREATE INDEX audit_by_target ON audit_events (LOWER(target), action, id);
