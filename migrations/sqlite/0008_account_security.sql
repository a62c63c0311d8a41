-- Account security (PRODUCT.md §10): sessions that a user can see and end, a second sign-in
-- step, TOTP, recovery codes, passkeys and the "Require two-factor authentication" setting.

-- stage 'second_factor': the password was right, the second step is still to come; such a
-- session reaches nothing but that step. handle: the session's public name on the Security tab
-- (the id's hash is the look-up key and never leaves the server).
ALTER TABLE sessions ADD COLUMN stage TEXT NOT NULL DEFAULT 'full'
    CHECK (stage IN ('full', 'second_factor'));
ALTER TABLE sessions ADD COLUMN handle TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
UPDATE sessions SET handle = lower(hex(randomblob(12))) WHERE handle = '';

-- One authenticator app per user. secret: XChaCha20-Poly1305 ciphertext (key outside the
-- database), bound to the user id. confirmed_at NULL: set up but not yet confirmed by a code.
-- last_step: the newest 30-second step accepted, so that no code is accepted twice.
CREATE TABLE totp_secrets (
    user_id       TEXT    PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Recovery codes, SHA-256 of user id and code (each code has 50 random bits).
CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- WebAuthn credentials. credential_id: base64url; passkey: webauthn-rs's stored form (public key
-- and signature counter: nothing secret).
CREATE TABLE passkeys (
    id             TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    credential_id  TEXT    NOT NULL UNIQUE,
    passkey        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX passkeys_by_user ON passkeys (user_id, created_at);

-- A WebAuthn ceremony between its two requests (any instance may answer the second), keyed
-- by the SHA-256 of what anchors it (session or pre-sign-in cookie) and its purpose.
CREATE TABLE webauthn_ceremonies (
    key         TEXT    PRIMARY KEY,
    state       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Console-wide settings an admin changes at run time.
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;
