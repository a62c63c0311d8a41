-- Webhooks (PRODUCT.md §12): endpoints and the durable outbox of their deliveries.

-- secret: the `whsec_` signing secret sealed with the server's secret key (XChaCha20-Poly1305,
-- bound to the endpoint id); previous_secret signs beside it until previous_until (unix
-- seconds) after a rotation. events: bits of the subscribed event types. form_nonce, rotation_nonce:
-- the add and Rotate forms' one-time nonces (a form sent twice does its work once).
CREATE TABLE webhook_endpoints (
    id               TEXT    PRIMARY KEY,
    url              TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    events           INTEGER NOT NULL,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    secret           TEXT    NOT NULL,
    previous_secret  TEXT,
    previous_until   INTEGER,
    created_at       INTEGER NOT NULL,
    created_by       TEXT,
    form_nonce       TEXT    UNIQUE,
    rotation_nonce   TEXT
) WITHOUT ROWID;

-- One row per event and endpoint, written in the transaction that makes the event. id: the
-- `webhook-id` every attempt carries. event_key: makes a keyed event (expiry warning, refusal
-- minute) once per endpoint. due_ms: when the next attempt is due (NULL once delivered, given
-- up, or while its endpoint is disabled); an instance that claims it moves due_ms past the end
-- of its attempt, so a crash mid-attempt only delays it. retry_from_ms: retries go on for 24
-- hours from then (the event's time, or a Redeliver). claim: names the instance's attempt in
-- flight; its outcome is recorded only while the claim still holds (not after a takeover or a
-- Redeliver).
CREATE TABLE webhook_deliveries (
    id               TEXT    PRIMARY KEY,
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type       TEXT    NOT NULL,
    event_key        TEXT,
    token_id         TEXT,
    body             TEXT    NOT NULL,
    created_ms       INTEGER NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed')),
    retry_from_ms    INTEGER NOT NULL,
    due_ms           INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    claim            TEXT,
    last_attempt_ms  INTEGER,
    last_status      INTEGER,
    last_error       TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX webhook_deliveries_key ON webhook_deliveries (endpoint_id, event_key)
    WHERE event_key IS NOT NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_ms) WHERE due_ms IS NOT NULL;
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_ms, id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_ms) WHERE due_ms IS NULL;
-- Paused deliveries (their endpoint disabled), re-armed when it is enabled.
CREATE INDEX webhook_deliveries_paused ON webhook_deliveries (endpoint_id)
    WHERE due_ms IS NULL AND state = 'pending';

-- The expiry warning a token has had: 0 none, 7 the seven-day one, 1 the one-day one (set in
-- the transaction that queues it, so that each is sent once per token).
ALTER TABLE tokens ADD COLUMN expiry_warning INTEGER NOT NULL DEFAULT 0;
