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

/// The FTS5 query for `needle`: one phrase (its trigrams in order), quotes doubled.
fn fts_phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
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
        if offset + limit <= NEWEST_WINDOW {
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
        let mut sql = format!(
            "{TOKEN_SELECT} WHERE ($1 = '' OR t.kind = $1) \
             AND ($2 = '' \
                  OR ($2 = 'revoked' AND t.revoked_at IS NOT NULL) \
                  OR ($2 = 'expired' AND t.revoked_at IS NULL AND t.expires_at <= $3) \
                  OR ($2 = 'active' AND t.revoked_at IS NULL AND t.expires_at > $3))"
        );
        let mut n = 4;
        if plan != Plan::All {
            sql.push_str(" AND t.search_text LIKE $4 ESCAPE '\\'");
            n = 5;
        }
        match plan {
            Plan::Newest => sql.push_str(&format!(
                " AND t.id IN (SELECT id FROM tokens ORDER BY created_at DESC, id DESC LIMIT {NEWEST_WINDOW})"
            )),
            Plan::Index if sqlite => {
                sql.push_str(
                    " AND t.id IN (SELECT token_id FROM tokens_search WHERE tokens_search MATCH $5)",
                );
                n = 6;
            }
            _ => {}
        }
        sql.push_str(&format!(
            " ORDER BY t.created_at DESC, t.id DESC LIMIT ${n} OFFSET ${}",
            n + 1
        ));
        let pattern = format!("%{}%", like_escape(needle));
        let phrase = fts_phrase(needle);
        let rows: Vec<TokenRow> = on_pool!(self.pool(), |db| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(filter.kind.map_or("", TokenKind::as_str))
                .bind(filter.status.map_or("", TokenStatus::as_str))
                .bind(filter.now);
            if plan != Plan::All {
                q = q.bind(pattern.as_str());
            }
            if plan == Plan::Index && sqlite {
                q = q.bind(phrase.as_str());
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
        assert_eq!(fts_phrase("ci \"prod\""), "\"ci \"\"prod\"\"\"");
        assert_eq!(fts_phrase("abc"), "\"abc\"");
    }
}
