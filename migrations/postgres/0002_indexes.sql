-- Dashboard and Account tab counts without scanning every device or token.
CREATE INDEX devices_by_keepalive ON devices (last_keepalive);
-- Live tokens only: counting and listing the ones about to expire reads this index alone.
CREATE INDEX tokens_live_by_expiry ON tokens (expires_at) WHERE revoked_at IS NULL;
