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
-- The busiest tokens of a period and the pruning read by day.
CREATE INDEX token_usage_by_day ON token_usage (day, token_id, uses);

-- All tokens' uses per day and reason, kept beside the rows above in the same transaction, so
-- the dashboard's chart reads 30 days × a few reasons instead of every token's rows.
CREATE TABLE usage_days (
    day     BIGINT  NOT NULL,
    reason  TEXT    NOT NULL,
    uses    BIGINT  NOT NULL,
    PRIMARY KEY (day, reason)
);
