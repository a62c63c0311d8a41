-- The Audit Log's filters read indexes newest first (keyset pagination on the id): by action (a
-- filter group is a union of its actions); by a whole actor or target (any case), alone or with
-- each action of a group; by Token ID (the token index exists: audit_by_token) — store/audit.rs.
CREATE INDEX audit_by_action_id ON audit_events (action, id);
CREATE INDEX audit_by_actor ON audit_events (LOWER(actor), id);
CREATE INDEX audit_by_target ON audit_events (LOWER(target), id);
CREATE INDEX audit_by_actor_action ON audit_events (LOWER(actor), action, id);
CREATE INDEX audit_by_target_action ON audit_events (LOWER(target), action, id);
