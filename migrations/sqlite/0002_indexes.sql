-- Dashboard and Account tab counts without scanning every device or token.
CREATE INDEX devices_by_keepalive ON devices (last_keepalive);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);
