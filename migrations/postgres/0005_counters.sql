-- Counts the dashboard and Account tab show, kept in the same transaction as the rows they count
-- (triggers), so a view reads a handful of rows instead of counting millions:
-- devices per fleet; devices per minute of their last keepalive (the "active in the last 24 h"
-- count sums whole minutes and counts the one boundary minute on `devices_by_keepalive`); live
-- (not revoked) tokens per UTC day of expiry (the active count sums the days after today and
-- counts today's on `tokens_live_by_expiry`). Exact, never estimated.
-- New devices are counted by the statements that insert them (store/devices.rs
-- `count_new_devices`, one upsert per fleet and minute for a whole batch, in key order so
-- concurrent writers lock counter rows in one order); deletes (per statement: a fleet's
-- cascade updates each count once) and moves by the triggers below.
-- The live tokens by expiry, then Token ID: the dashboard's "expiring soon" list (ordered so)
-- reads its 20 rows from the index instead of sorting a week of tokens.
DROP INDEX tokens_live_by_expiry;
CREATE INDEX tokens_live_by_expiry ON tokens (expires_at, id) WHERE revoked_at IS NULL;

-- Only devices with a keepalive are indexed by it (an imported device has none, so an import
-- writes one index fewer per row).
DROP INDEX devices_by_keepalive;
CREATE INDEX devices_by_keepalive ON devices (last_keepalive) WHERE last_keepalive IS NOT NULL;

-- No device or token may be written between the counts' first reading below and the triggers'
-- creation (instances of the previous version must be stopped before this one starts: they
-- would insert devices without counting them).
LOCK TABLE devices, tokens IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE fleet_device_counts (
    fleet_key  TEXT    PRIMARY KEY,
    devices    BIGINT  NOT NULL
);
CREATE TABLE keepalive_minutes (
    minute   BIGINT  PRIMARY KEY,
    devices  BIGINT  NOT NULL
);
CREATE TABLE token_expiry_days (
    day   BIGINT  PRIMARY KEY,
    live  BIGINT  NOT NULL
);

INSERT INTO fleet_device_counts (fleet_key, devices)
    SELECT fleet_key, COUNT(*) FROM devices GROUP BY fleet_key;
INSERT INTO keepalive_minutes (minute, devices)
    SELECT last_keepalive / 60, COUNT(*) FROM devices WHERE last_keepalive IS NOT NULL
    GROUP BY last_keepalive / 60;
INSERT INTO token_expiry_days (day, live)
    SELECT expires_at / 86400, COUNT(*) FROM tokens WHERE revoked_at IS NULL
    GROUP BY expires_at / 86400;

CREATE FUNCTION devices_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fleet_device_counts c SET devices = c.devices - o.n
        FROM (SELECT fleet_key, COUNT(*) AS n FROM old_rows GROUP BY fleet_key) o
        WHERE c.fleet_key = o.fleet_key;
    UPDATE keepalive_minutes c SET devices = c.devices - o.n
        FROM (SELECT last_keepalive / 60 AS minute, COUNT(*) AS n FROM old_rows
              WHERE last_keepalive IS NOT NULL GROUP BY 1) o
        WHERE c.minute = o.minute;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_count_delete AFTER DELETE ON devices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION devices_count_delete();

-- Updates are one device at a time; a change of fleet and a new keepalive each touch only their
-- own counts (keepalives must not queue on their fleet's row).
CREATE FUNCTION devices_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.fleet_key IS DISTINCT FROM NEW.fleet_key THEN
        UPDATE fleet_device_counts SET devices = devices - 1 WHERE fleet_key = OLD.fleet_key;
        INSERT INTO fleet_device_counts AS c (fleet_key, devices) VALUES (NEW.fleet_key, 1)
            ON CONFLICT (fleet_key) DO UPDATE SET devices = c.devices + 1;
    END IF;
    IF OLD.last_keepalive IS DISTINCT FROM NEW.last_keepalive THEN
        UPDATE keepalive_minutes SET devices = devices - 1 WHERE minute = OLD.last_keepalive / 60;
        IF NEW.last_keepalive IS NOT NULL THEN
            INSERT INTO keepalive_minutes AS c (minute, devices) VALUES (NEW.last_keepalive / 60, 1)
                ON CONFLICT (minute) DO UPDATE SET devices = c.devices + 1;
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_count_update AFTER UPDATE OF fleet_key, last_keepalive ON devices
    FOR EACH ROW
    WHEN (OLD.fleet_key IS DISTINCT FROM NEW.fleet_key
          OR OLD.last_keepalive IS DISTINCT FROM NEW.last_keepalive)
    EXECUTE FUNCTION devices_count_update();

CREATE FUNCTION tokens_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.revoked_at IS NULL THEN
        UPDATE token_expiry_days SET live = live - 1 WHERE day = OLD.expires_at / 86400;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.revoked_at IS NULL THEN
        INSERT INTO token_expiry_days AS c (day, live) VALUES (NEW.expires_at / 86400, 1)
            ON CONFLICT (day) DO UPDATE SET live = c.live + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tokens_count_insert AFTER INSERT ON tokens
    FOR EACH ROW WHEN (NEW.revoked_at IS NULL) EXECUTE FUNCTION tokens_count();
CREATE TRIGGER tokens_count_delete AFTER DELETE ON tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL) EXECUTE FUNCTION tokens_count();
CREATE TRIGGER tokens_count_update AFTER UPDATE OF revoked_at, expires_at ON tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at <> NEW.expires_at)
    EXECUTE FUNCTION tokens_count();
