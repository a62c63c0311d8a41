//! The token lists (console and API): filters, text search, newest first.
//!
//! Each token has a search text (migration 0006): its description, Token ID, hint, target and
//! owner's username, lower-cased here (so both databases fold case alike) and separated by line
//! feeds. A search is a substring of one field, answered in the cheapest way that is still exact:
//! 1. among the newest [`NEWEST_WINDOW`] tokens, when the page is found there (a common text:
//!    reading the newest few is enough, however many match further back);
//! 2. else through the trigram index (SQLite FTS5; PostgreSQL pg_trgm, chosen by its planner)
//!    when the text has at least three characters — every hit checked again with `LIKE`;
//! 3. else by reading the tokens newest first (one or two characters: no trigram to look up).

use super::tokens::{NewToken, TOKEN_SELECT, TokenFilter, TokenRecord, TokenRow};
use super::{Pool, Store, StoreResult, like_escape, on_pool};
use crate::domain::expiry::TokenStatus;
use crate::domain::scope::Target;
use crate::domain::token::TokenKind;

/// Separates the fields of a search text; no field contains it.
const SEPARATOR: char = '\n';

/// How many of the newest tokens a search reads before it turns to the index.
pub const NEWEST_WINDOW: i64 = 1000;

/// A new token's search text up to the owner's username, which the `INSERT` appends from the
/// users table.
pub fn search_prefix(id: &str, t: &NewToken<'_>) -> String {
    let target = match t.target {
        Some(Target::Fleet(f)) => f.as_str(),
        Some(Target::Device(d)) => d.as_str(),
        None => "",
    };
    let mut s = String::new();
    for field in [t.description, id, t.hint, target] {
        s.push_str(&field.to_lowercase());
        s.push(SEPARATOR);
    }
    s
}

/// The text clause of one way of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// No text.
    All,
    /// Among the newest [`NEWEST_WINDOW`].
    Newest,
    /// Through the trigram index.
    Index,
    /// Reading newest first.
    Scan,
}

/// Characters of a long search that the index is asked for, at its start and at its end.
const PROBE: usize = 6;

/// What the index is asked for: the whole search, or for a long one (a whole Token ID, say) its
/// first and last [`PROBE`] characters — every trigram is a list to read and intersect, and
/// eight narrow nearly as well as thirty; the `LIKE` on each hit checks the whole.
fn probes(needle: &str) -> Vec<String> {
    let chars: Vec<char> = needle.chars().collect();
    if chars.len() <= 2 * PROBE {
        vec![needle.to_owned()]
    } else {
        vec![
            chars[..PROBE].iter().collect(),
            chars[chars.len() - PROBE..].iter().collect(),
        ]
    }
}

/// The FTS5 query for `needle`: each probe a phrase (its trigrams in order), quotes doubled.
fn fts_query(needle: &str) -> String {
    let phrases: Vec<String> = probes(needle)
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect();
    phrases.join(" AND ")
}

/// The `LIKE` pattern of a substring.
fn contains(needle: &str) -> String {
    format!("%{}%", like_escape(needle))
}

/// The statement of one page by `plan`: the filters, the text clauses (`probes` on the
/// PostgreSQL index plan), newest first; parameters numbered in the order
/// [`Store::token_page`] binds them.
fn page_sql(filter: &TokenFilter, plan: Plan, probes: usize, sqlite: bool) -> String {
    let mut sql = format!(
        "{TOKEN_SELECT} WHERE ($1 = '' OR t.kind = $1) \
             AND ($2 = '' \
                  OR ($2 = 'revoked' AND t.revoked_at IS NOT NULL) \
                  OR ($2 = 'expired' AND t.revoked_at IS NULL AND t.expires_at <= $3) \
                  OR ($2 = 'active' AND t.revoked_at IS NULL AND t.expires_at > $3))"
    );
    let mut n = 4;
    let mut param = || {
        n += 1;
        n - 1
    };
    if filter.unused_since.is_some() {
        let p = param();
        sql.push_str(&format!(
            " AND COALESCE(t.last_used_at, t.created_at) < ${p}"
        ));
    }
    if filter.after.is_some() {
        let (at, id) = (param(), param());
        // A row comparison: both databases read it as one range of `tokens_by_created`.
        sql.push_str(&format!(" AND (t.created_at, t.id) < (${at}, ${id})"));
    }
    // The whole search is checked on each row; for the index plan on PostgreSQL, as an
    // expression its planner cannot take to the index (the probes go there instead).
    let checked = if plan == Plan::Index && !sqlite {
        "(t.search_text || '')"
    } else {
        "t.search_text"
    };
    if plan != Plan::All {
        let p = param();
        sql.push_str(&format!(" AND {checked} LIKE ${p} ESCAPE '\\'"));
    }
    match plan {
        Plan::Newest => {
            // The newest tokens as a table of their own: the filters cannot be pushed
            // inside its LIMIT, so the window is read first and only then filtered.
            let window = format!(
                "FROM (SELECT * FROM tokens ORDER BY created_at DESC, id DESC LIMIT {NEWEST_WINDOW}) t "
            );
            sql = sql.replacen("FROM tokens t ", &window, 1);
        }
        Plan::Index if sqlite => {
            let p = param();
            sql.push_str(&format!(
                " AND t.id IN (SELECT token_id FROM tokens_search WHERE tokens_search MATCH ${p})"
            ));
        }
        Plan::Index => {
            for _ in 0..probes {
                let p = param();
                sql.push_str(&format!(" AND t.search_text LIKE ${p} ESCAPE '\\'"));
            }
        }
        _ => {}
    }
    let (limit_at, offset_at) = (param(), param());
    sql.push_str(&format!(
        " ORDER BY t.created_at DESC, t.id DESC LIMIT ${limit_at} OFFSET ${offset_at}"
    ));
    sql
}

impl Store {
    /// Tokens matching `filter`, newest first (by creation, then Token ID), skipping `offset`,
    /// at most `limit`.
    pub async fn find_tokens(
        &self,
        filter: &TokenFilter,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<TokenRecord>> {
        let needle = filter.text.to_lowercase();
        if needle.is_empty() {
            return self.token_page(filter, Plan::All, "", offset, limit).await;
        }
        if needle.contains(SEPARATOR) {
            return Ok(Vec::new());
        }
        // After a cursor the newest tokens are behind it: the window could never fill a page.
        if offset + limit <= NEWEST_WINDOW && filter.after.is_none() {
            let found = self
                .token_page(filter, Plan::Newest, &needle, 0, offset + limit)
                .await?;
            if found.len() as i64 == offset + limit {
                let skip = usize::try_from(offset).unwrap_or(0);
                return Ok(found.into_iter().skip(skip).collect());
            }
        }
        let plan = if needle.chars().count() >= 3 {
            Plan::Index
        } else {
            Plan::Scan
        };
        self.token_page(filter, plan, &needle, offset, limit).await
    }

    /// One page by `plan`.
    async fn token_page(
        &self,
        filter: &TokenFilter,
        plan: Plan,
        needle: &str,
        offset: i64,
        limit: i64,
    ) -> StoreResult<Vec<TokenRecord>> {
        let sqlite = matches!(self.pool(), Pool::Sqlite(_));
        let probes = probes(needle);
        let sql = page_sql(filter, plan, probes.len(), sqlite);
        let pattern = contains(needle);
        let fts = fts_query(needle);
        let probe_patterns: Vec<String> = probes.iter().map(|p| contains(p)).collect();
        let rows: Vec<TokenRow> = on_pool!(self.pool(), |db| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(filter.kind.map_or("", TokenKind::as_str))
                .bind(filter.status.map_or("", TokenStatus::as_str))
                .bind(filter.now);
            if let Some(cutoff) = filter.unused_since {
                q = q.bind(cutoff);
            }
            if let Some((at, id)) = &filter.after {
                q = q.bind(*at).bind(id.as_str());
            }
            if plan != Plan::All {
                q = q.bind(pattern.as_str());
            }
            if plan == Plan::Index && sqlite {
                q = q.bind(fts.as_str());
            }
            if plan == Plan::Index && !sqlite {
                for p in &probe_patterns {
                    q = q.bind(p.as_str());
                }
            }
            q.bind(limit).bind(offset).fetch_all(db).await?
        });
        Ok(rows.into_iter().map(TokenRecord::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_double_their_quotes() {
        assert_eq!(fts_query("ci \"prod\""), "\"ci \"\"prod\"\"\"");
        assert_eq!(fts_query("abc"), "\"abc\"");
    }

    #[test]
    fn long_searches_probe_the_index_with_their_ends() {
        let id = "6f1c0001-aaaa-4bbb-8ccc-0123456789ab";
        assert_eq!(probes(id), ["6f1c00", "6789ab"]);
        assert_eq!(fts_query(id), "\"6f1c00\" AND \"6789ab\"");
        let short = "é".repeat(12);
        assert_eq!(probes(&short), vec![short]);
        assert_eq!(probes(&"é".repeat(13)), ["é".repeat(6), "é".repeat(6)]);
    }

    /// The `$n` placeholders of `sql`, in order of appearance (first appearance each).
    fn placeholders(sql: &str) -> Vec<usize> {
        let mut seen = Vec::new();
        for part in sql.split('$').skip(1) {
            let n: usize = part
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap();
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        seen
    }

    #[test]
    fn parameters_are_numbered_in_binding_order_for_every_plan() {
        let all = TokenFilter {
            unused_since: Some(1),
            after: Some((2, "x".into())),
            ..TokenFilter::default()
        };
        // kind, status, now; cutoff; cursor time and id; pattern; plan's own; limit, offset.
        for (plan, probes, sqlite, last) in [
            (Plan::All, 0, true, 8),
            (Plan::Scan, 0, false, 9),
            (Plan::Newest, 0, true, 9),
            (Plan::Index, 0, true, 10),
            (Plan::Index, 2, false, 11),
        ] {
            let sql = page_sql(&all, plan, probes, sqlite);
            assert_eq!(
                placeholders(&sql),
                (1..=last).collect::<Vec<_>>(),
                "{plan:?}: {sql}"
            );
            assert!(sql.ends_with(&format!("LIMIT ${} OFFSET ${last}", last - 1)));
        }
        let plain = page_sql(&TokenFilter::default(), Plan::All, 0, false);
        assert_eq!(placeholders(&plain), [1, 2, 3, 4, 5]);
        assert!(!plain.contains("COALESCE") && !plain.contains("t.id) <"));
    }

    #[test]
    fn the_window_replaces_the_table_once() {
        assert_eq!(TOKEN_SELECT.matches("FROM tokens t ").count(), 1);
    }
}
