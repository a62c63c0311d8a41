-- Counts the dashboard and Account tab show, kept in the same transaction as the rows they count
-- (triggers), so a view reads a handful of rows instead of counting millions:
-- devices per fleet; devices per minute of their last keepalive (the "active in the last 24 h"
-- count sums whole minutes and counts the one boundary minute on `devices_by_keepalive`); live
-- (not revoked) tokens per UTC day of expiry (the active count sums the days after today and
-- counts today's on `tokens_live_by_expiry`). Exact, never estimated.
-- New devices are counted by the statements that insert them (store/devices.rs
-- `count_new_devices`, one upsert per fleet and minute for a whole batch: an AFTER INSERT
-- trigger made a bulk import 30 % slower); deletes and moves by the triggers below.
-- The live tokens by expiry, then Token ID: the dashboard's "expiring soon" list (ordered so)
-- reads its 20 rows from the index instead of sorting a week of tokens.
DROP INDEX tokens_live_by_expiry;
CREATE INDEX tokens_live_by_expiry ON tokens (expires_at, id) WHERE revoked_at IS NULL;

-- Only devices with a keepalive are indexed by it (an imported device has none, so an import
-- writes one index fewer per row).
DROP INDEX devices_by_keepalive;
CREATE INDEX devices_by_keepalive ON devices (last_keepalive) WHERE last_keepalive IS NOT NULL;

CREATE TABLE fleet_device_counts (
    fleet_key  TEXT    PRIMARY KEY,
    devices    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE keepalive_minutes (
    minute   INTEGER PRIMARY KEY,
    devices  INTEGER NOT NULL
);
CREATE TABLE token_expiry_days (
    day   INTEGER PRIMARY KEY,
    live  INTEGER NOT NULL
);

INSERT INTO fleet_device_counts (fleet_key, devices)
    SELECT fleet_key, COUNT(*) FROM devices GROUP BY fleet_key;
INSERT INTO keepalive_minutes (minute, devices)
    SELECT last_keepalive / 60, COUNT(*) FROM devices WHERE last_keepalive IS NOT NULL
    GROUP BY last_keepalive / 60;
INSERT INTO token_expiry_days (day, live)
    SELECT expires_at / 86400, COUNT(*) FROM tokens WHERE revoked_at IS NULL
    GROUP BY expires_at / 86400;

CREATE TRIGGER devices_count_delete AFTER DELETE ON devices BEGIN
    UPDATE fleet_device_counts SET devices = devices - 1 WHERE fleet_key = OLD.fleet_key;
    UPDATE keepalive_minutes SET devices = devices - 1 WHERE minute = OLD.last_keepalive / 60;
END;
-- A move to another fleet and a new keepalive each touch only their own counts (keepalives
-- must not queue on their fleet's row).
CREATE TRIGGER devices_count_move AFTER UPDATE OF fleet_key ON devices
    WHEN OLD.fleet_key IS NOT NEW.fleet_key BEGIN
    UPDATE fleet_device_counts SET devices = devices - 1 WHERE fleet_key = OLD.fleet_key;
    INSERT INTO fleet_device_counts (fleet_key, devices) VALUES (NEW.fleet_key, 1)
        ON CONFLICT (fleet_key) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER devices_count_keepalive AFTER UPDATE OF last_keepalive ON devices
    WHEN OLD.last_keepalive IS NOT NEW.last_keepalive BEGIN
    UPDATE keepalive_minutes SET devices = devices - 1 WHERE minute = OLD.last_keepalive / 60;
    INSERT INTO keepalive_minutes (minute, devices)
        SELECT NEW.last_keepalive / 60, 1 WHERE NEW.last_keepalive IS NOT NULL
        ON CONFLICT (minute) DO UPDATE SET devices = devices + 1;
END;

CREATE TRIGGER tokens_count_insert AFTER INSERT ON tokens WHEN NEW.revoked_at IS NULL BEGIN
    INSERT INTO token_expiry_days (day, live) VALUES (NEW.expires_at / 86400, 1)
        ON CONFLICT (day) DO UPDATE SET live = live + 1;
END;
CREATE TRIGGER tokens_count_delete AFTER DELETE ON tokens WHEN OLD.revoked_at IS NULL BEGIN
    UPDATE token_expiry_days SET live = live - 1 WHERE day = OLD.expires_at / 86400;
END;
CREATE TRIGGER tokens_count_update AFTER UPDATE OF revoked_at, expires_at ON tokens BEGIN
    UPDATE token_expiry_days SET live = live - 1
        WHERE OLD.revoked_at IS NULL AND day = OLD.expires_at / 86400;
    INSERT INTO token_expiry_days (day, live)
        SELECT NEW.expires_at / 86400, 1 WHERE NEW.revoked_at IS NULL
        ON CONFLICT (day) DO UPDATE SET live = live + 1;
END;
