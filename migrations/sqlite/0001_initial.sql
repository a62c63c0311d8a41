-- Times are unix seconds (UTC). Permission sets are bit masks: read=1, write=2, delete=4.
-- Tables keyed by text are WITHOUT ROWID: a look-up by key is one B-tree search, not two
-- (index, then table) — the API's hot path reads devices, users and grants by key.
CREATE TABLE account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    name          TEXT    NOT NULL,
    plan          TEXT    NOT NULL,
    renewal_date  TEXT    NOT NULL
);

CREATE TABLE fleets (
    key          TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE devices (
    uuid            TEXT    PRIMARY KEY,
    fleet_key       TEXT    NOT NULL REFERENCES fleets(key) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    name_lower      TEXT    NOT NULL,
    group_name      TEXT    NOT NULL DEFAULT '',
    -- normalised lower-case tags, framed by ';' (";edge;lab;") so a tag matches as ";tag;"
    tags            TEXT    NOT NULL DEFAULT ';',
    description     TEXT    NOT NULL DEFAULT '',
    ip              TEXT    NOT NULL DEFAULT '',
    agent_version   TEXT    NOT NULL DEFAULT '',
    last_keepalive  INTEGER,
    registered_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX devices_by_fleet ON devices (fleet_key, uuid);
CREATE INDEX devices_by_name ON devices (name_lower, uuid);

CREATE TABLE users (
    id             TEXT    PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    email          TEXT    NOT NULL DEFAULT '',
    display_name   TEXT    NOT NULL DEFAULT '',
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    password_hash  TEXT    NOT NULL,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    last_login     INTEGER,
    created_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE user_fleet_permissions (
    user_id      TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fleet_key    TEXT    NOT NULL REFERENCES fleets(key) ON DELETE CASCADE,
    permissions  INTEGER NOT NULL,
    PRIMARY KEY (user_id, fleet_key)
) WITHOUT ROWID;

-- A rowid table on purpose: the console lists and counts tokens by creation and expiry, which
-- a WITHOUT ROWID table keyed by the wide hash made several times slower.
CREATE TABLE tokens (
    id             TEXT    PRIMARY KEY,
    kind           TEXT    NOT NULL CHECK (kind IN ('user', 'device_details')),
    token_hash     TEXT    NOT NULL UNIQUE,
    hint           TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    user_id        TEXT    REFERENCES users(id) ON DELETE CASCADE,
    target_fleet   TEXT,
    target_device  TEXT,
    permissions    INTEGER NOT NULL DEFAULT 0,
    created_by     TEXT    REFERENCES users(id) ON DELETE SET NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    last_used_at   INTEGER,
    -- one-time nonce of the console form that generated it: a replay cannot make a second token
    form_nonce     TEXT    UNIQUE,
    CHECK ((kind = 'user' AND user_id IS NOT NULL)
        OR (kind = 'device_details' AND (target_fleet IS NULL) <> (target_device IS NULL)))
);
CREATE INDEX tokens_by_created ON tokens (created_at, id);

CREATE TABLE sessions (
    id_hash       TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE audit_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    token_id  TEXT,
    target    TEXT    NOT NULL DEFAULT '',
    source    TEXT    NOT NULL DEFAULT '',
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_action_actor ON audit_events (action, actor, at);
CREATE INDEX audit_by_action_source ON audit_events (action, source, at);
