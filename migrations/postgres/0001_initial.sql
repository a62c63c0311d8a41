-- PostgreSQL dialect of migrations/sqlite/0001_initial.sql; keep the two in step.
-- Times are unix seconds (UTC). Permission sets are bit masks: read=1, write=2, delete=4.
CREATE TABLE account (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    name          TEXT    NOT NULL,
    plan          TEXT    NOT NULL,
    renewal_date  TEXT    NOT NULL
);

CREATE TABLE fleets (
    key          TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL
);

CREATE TABLE devices (
    uuid            TEXT COLLATE "C" PRIMARY KEY,
    fleet_key       TEXT    NOT NULL REFERENCES fleets(key) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    name_lower      TEXT COLLATE "C" NOT NULL,
    group_name      TEXT    NOT NULL DEFAULT '',
    -- normalised lower-case tags, framed by ';' (";edge;lab;") so a tag matches as ";tag;"
    tags            TEXT    NOT NULL DEFAULT ';',
    description     TEXT    NOT NULL DEFAULT '',
    ip              TEXT    NOT NULL DEFAULT '',
    agent_version   TEXT    NOT NULL DEFAULT '',
    last_keepalive  BIGINT ,
    registered_at   BIGINT  NOT NULL
);
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
    last_login     BIGINT ,
    created_at     BIGINT  NOT NULL
);

CREATE TABLE user_fleet_permissions (
    user_id      TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fleet_key    TEXT    NOT NULL REFERENCES fleets(key) ON DELETE CASCADE,
    permissions  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, fleet_key)
);

CREATE TABLE tokens (
    id             TEXT    PRIMARY KEY,
    kind           TEXT    NOT NULL CHECK (kind IN ('user', 'device_details')),
    token_hash     TEXT    NOT NULL UNIQUE,
    hint           TEXT    NOT NULL,
    description    TEXT    NOT NULL,
    user_id        TEXT    REFERENCES users(id) ON DELETE CASCADE,
    target_fleet   TEXT,
    target_device  TEXT,
    permissions    BIGINT  NOT NULL DEFAULT 0,
    created_by     TEXT    REFERENCES users(id) ON DELETE SET NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    revoked_at     BIGINT ,
    last_used_at   BIGINT ,
    -- one-time nonce of the console form that generated it: a replay cannot make a second token
    form_nonce     TEXT    UNIQUE,
    CHECK ((kind = 'user' AND user_id IS NOT NULL)
        OR (kind = 'device_details' AND (target_fleet IS NULL) <> (target_device IS NULL)))
);
CREATE INDEX tokens_by_created ON tokens (created_at, id);

CREATE TABLE sessions (
    id_hash       TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    BIGINT  NOT NULL,
    last_seen_at  BIGINT  NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE audit_events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    token_id  TEXT,
    target    TEXT    NOT NULL DEFAULT '',
    source    TEXT    NOT NULL DEFAULT '',
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_action_actor ON audit_events (action, actor, at);
CREATE INDEX audit_by_action_source ON audit_events (action, source, at);
