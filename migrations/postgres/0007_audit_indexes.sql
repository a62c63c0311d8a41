-- The Audit Log's filters read an index each, newest first (keyset pagination on the id): by
-- action (a filter group is a union of its actions), and by actor, target or Token ID, matched
-- whole and case-insensitively (the token index exists: audit_by_token).
CREATE INDEX audit_by_action_id ON audit_events (action, id);
CREATE INDEX audit_by_actor ON audit_events (LOWER(actor), id);
CREATE INDEX audit_by_target ON audit_events (LOWER(target), id);
