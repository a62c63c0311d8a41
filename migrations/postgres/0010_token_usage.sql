-- Usage per token and UTC day (PRODUCT.md §14), written in batches with the last-used stamps:
-- day: days since 1970-01-01 UTC; reason: '' for allowed requests, else why it was refused
-- ("expired", "missing write permission", "out of scope", …); uses: how many. Kept 400 days.
-- Several instances add their counts to the same rows (an upsert adding `uses`).
CREATE TABLE token_usage (
    token_id  TEXT    NOT NULL,
    day       BIGINT  NOT NULL,
    reason    TEXT    NOT NULL,
    uses      BIGINT  NOT NULL,
    PRIMARY KEY (token_id, day, reason)
);
-- The pruning and a window's roll read by day.
CREATE INDEX token_usage_by_day ON token_usage (day, token_id, uses);

-- All tokens' uses per day and reason, kept beside the rows above in the same transaction, so
-- the dashboard's chart reads 30 days × a few reasons instead of every token's rows.
CREATE TABLE usage_days (
    day     BIGINT  NOT NULL,
    reason  TEXT    NOT NULL,
    uses    BIGINT  NOT NULL,
    PRIMARY KEY (day, reason)
);

-- Each token's uses in the window of days the dashboard's busiest tokens cover (the 30 days up to
-- today): a flush adds the counts of days inside the window; a day leaving the window is
-- subtracted once (store/insight.rs `roll_usage_window`), the window's first day kept in
-- usage_window. The five busiest are then five index reads, however many tokens there are.
CREATE TABLE usage_recent (
    token_id  TEXT    PRIMARY KEY,
    uses      BIGINT  NOT NULL
);
CREATE INDEX usage_recent_by_uses ON usage_recent (uses DESC, token_id);
CREATE TABLE usage_window (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    first_day  BIGINT  NOT NULL
);
INSERT INTO usage_window (id, first_day) VALUES (1, 0);
