//! Bulk device import: batches of rows (with the line each came from) written in one
//! transaction, all or nothing. SQLite gets prepared multi-row `INSERT`s, PostgreSQL
//! `COPY … FROM STDIN`; missing fleets are created before the batch that names them. The
//! counts (migration 0005) move in the same transaction, once, just before it commits.

use std::collections::HashSet;
use std::fmt::Write as _;

use sqlx::{PgConnection, SqliteConnection};
use tokio::sync::mpsc::Receiver;

use super::devices::{
    Device, INSERT_COLUMNS, ImportError, NewDevices, bind_device, insert_statement,
};
use super::{BeginWrite, Constraint, Pool, Store, StoreError};

/// What the reader of a file sends the import.
#[derive(Debug)]
pub enum ImportItem {
    /// Checked rows, each with its (1-based) line in the file.
    Rows(Vec<(u64, Device)>),
    /// A bad row: the import stops and nothing is written.
    Bad {
        /// Its line in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read on (an I/O error): the import stops, nothing is written.
    Unreadable(String),
    /// The file was read to its end: commit.
    End,
}

/// Rows per SQLite `INSERT` (11 values each, well below SQLite's 32,766 variables).
const SQLITE_ROWS: usize = 400;

impl Store {
    /// Imports the batches `items` brings in one transaction, creating missing fleets; commits
    /// only at [`ImportItem::End`]. The first bad row (from the reader, or refused by the
    /// database: a UUID that exists) rolls everything back, naming its line. `progress` gets
    /// the number of rows written after each batch.
    pub async fn import_devices(
        &self,
        items: &mut Receiver<ImportItem>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, ImportError> {
        let now = crate::domain::now();
        let mut fleets = HashSet::new();
        let mut tally = NewDevices::default();
        let mut count = 0u64;
        match self.pool() {
            Pool::Sqlite(db) => {
                let mut tx = db.begin_write().await.map_err(StoreError::from)?;
                while let Some(rows) = next_rows(items).await? {
                    create_fleets(&mut *tx, &mut fleets, &rows, now).await?;
                    for chunk in rows.chunks(SQLITE_ROWS) {
                        insert_sqlite(&mut tx, chunk).await?;
                    }
                    rows.iter().for_each(|(_, d)| tally.add(d));
                    count += rows.len() as u64;
                    progress(count);
                }
                tally.write(&mut *tx).await.map_err(StoreError::from)?;
                tx.commit().await.map_err(StoreError::from)?;
            }
            Pool::Postgres(db) => {
                let mut tx = db.begin_write().await.map_err(StoreError::from)?;
                while let Some(rows) = next_rows(items).await? {
                    create_fleets(&mut *tx, &mut fleets, &rows, now).await?;
                    copy_postgres(&mut tx, &rows).await?;
                    rows.iter().for_each(|(_, d)| tally.add(d));
                    count += rows.len() as u64;
                    progress(count);
                }
                tally.write(&mut *tx).await.map_err(StoreError::from)?;
                tx.commit().await.map_err(StoreError::from)?;
            }
        }
        Ok(count)
    }
}

/// The next batch; `None` at the end of the file; the reader's error for a bad row, and an
/// error when the reader stopped without reaching the end (nothing may be committed then).
async fn next_rows(
    items: &mut Receiver<ImportItem>,
) -> Result<Option<Vec<(u64, Device)>>, ImportError> {
    match items.recv().await {
        Some(ImportItem::Rows(rows)) => Ok(Some(rows)),
        Some(ImportItem::End) => Ok(None),
        Some(ImportItem::Bad { line, message }) => Err(ImportError::Row { line, message }),
        Some(ImportItem::Unreadable(e)) => Err(ImportError::Interrupted(format!(
            "the file could not be read: {e}"
        ))),
        None => Err(ImportError::Interrupted(
            "the file's reader stopped before its end".into(),
        )),
    }
}

/// Creates the fleets of `rows` not seen before in this import (existing ones are kept).
async fn create_fleets<'e, E, DB>(
    db: E,
    seen: &mut HashSet<String>,
    rows: &[(u64, Device)],
    now: i64,
) -> Result<(), ImportError>
where
    E: sqlx::Executor<'e, Database = DB>,
    DB: sqlx::Database,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let mut new = Vec::new();
    for (_, d) in rows {
        if !seen.contains(&d.fleet_key) {
            seen.insert(d.fleet_key.clone());
            new.push(d.fleet_key.clone());
        }
    }
    if new.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..new.len())
        .map(|i| format!("(${n}, ${n}, '', $1)", n = i + 2))
        .collect();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO fleets (key, name, description, created_at) VALUES {} \
         ON CONFLICT (key) DO NOTHING",
        values.join(", ")
    )))
    .bind(now);
    for key in new {
        q = q.bind(key);
    }
    q.execute(db).await.map_err(StoreError::from)?;
    Ok(())
}

/// One multi-row `INSERT`; a UUID that exists is named with the line of the row that repeats it.
async fn insert_sqlite(
    tx: &mut SqliteConnection,
    rows: &[(u64, Device)],
) -> Result<(), ImportError> {
    let sql = insert_statement(rows.len());
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (_, d) in rows {
        q = bind_device!(q, d);
    }
    match q.execute(&mut *tx).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e))
            if Constraint::PrimaryKey("devices", "uuid").fired(e.as_ref()) =>
        {
            // The failed statement changed nothing; find the first row whose UUID was there
            // before it or comes earlier in it.
            let uuids: Vec<&str> = rows.iter().map(|(_, d)| d.uuid.as_str()).collect();
            let marks = vec!["?"; uuids.len()].join(",");
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT uuid FROM devices WHERE uuid IN ({marks})"
            )));
            for u in &uuids {
                q = q.bind(*u);
            }
            let existing: HashSet<String> = q
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .into_iter()
                .collect();
            let mut seen = HashSet::new();
            let (line, d) = rows
                .iter()
                .find(|(_, d)| existing.contains(&d.uuid) || !seen.insert(d.uuid.as_str()))
                .unwrap_or(&rows[0]);
            Err(exists(*line, d))
        }
        Err(e) => Err(StoreError::from(e).into()),
    }
}

fn exists(line: u64, d: &Device) -> ImportError {
    ImportError::Row {
        line,
        message: format!("device {} already exists", d.uuid),
    }
}

/// Appends `s` as one field of `COPY`'s text format.
fn copy_field(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// `rows` in `COPY`'s text format.
fn copy_text(rows: &[(u64, Device)]) -> String {
    let mut out = String::with_capacity(rows.len() * 160);
    for (_, d) in rows {
        let lower = d.name.to_lowercase();
        for (i, field) in [
            d.uuid.as_str(),
            &d.fleet_key,
            &d.name,
            &lower,
            &d.group_name,
            &d.tags,
            &d.description,
            &d.ip,
            &d.agent_version,
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push('\t');
            }
            copy_field(&mut out, field);
        }
        match d.last_keepalive {
            Some(k) => {
                let _ = write!(out, "\t{k}");
            }
            None => out.push_str("\t\\N"),
        }
        let _ = writeln!(out, "\t{}", d.registered_at);
    }
    out
}

/// One `COPY` of `rows`; a UUID that exists is named with the line of the row that repeats it
/// (PostgreSQL says which line of the `COPY` failed).
async fn copy_postgres(tx: &mut PgConnection, rows: &[(u64, Device)]) -> Result<(), ImportError> {
    let data = copy_text(rows);
    let mut copy = tx
        .copy_in_raw(&format!("COPY devices ({INSERT_COLUMNS}) FROM STDIN"))
        .await
        .map_err(StoreError::from)?;
    let sent = copy.send(data.as_bytes()).await.map(|_| ());
    let result = match sent {
        Ok(()) => copy.finish().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(()),
        Err(sqlx::Error::Database(e))
            if Constraint::PrimaryKey("devices", "uuid").fired(e.as_ref()) =>
        {
            let pg = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
            let at = pg
                .and_then(|p| p.r#where())
                .and_then(copy_line)
                .and_then(|n| rows.get(n.checked_sub(1)?));
            match at {
                Some((line, d)) => Err(exists(*line, d)),
                None => Err(StoreError::from(sqlx::Error::Database(e)).into()),
            }
        }
        Err(e) => Err(StoreError::from(e).into()),
    }
}

/// The line number in PostgreSQL's context "COPY devices, line 17: …".
fn copy_line(context: &str) -> Option<usize> {
    let rest = context.split("COPY devices, line ").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_the_format_reserves() {
        let d = Device {
            uuid: "d-0000-0001".into(),
            fleet_key: "f".into(),
            name: "A\\B".into(),
            group_name: String::new(),
            tags: ";".into(),
            description: "x\ty\nz\r".into(),
            ip: String::new(),
            agent_version: String::new(),
            last_keepalive: None,
            registered_at: 5,
        };
        assert_eq!(
            copy_text(&[(2, d)]),
            "d-0000-0001\tf\tA\\\\B\ta\\\\b\t\t;\tx\\ty\\nz\\r\t\t\t\\N\t5\n"
        );
    }

    #[test]
    fn the_failed_line_is_read_from_the_context() {
        assert_eq!(copy_line("COPY devices, line 17: \"d-1\""), Some(17));
        assert_eq!(copy_line("COPY devices, line 3"), Some(3));
        assert_eq!(copy_line("somewhere else"), None);
        assert_eq!(
            copy_line("PL/pgSQL function f() line 5 at SQL statement"),
            None
        );
    }

    #[test]
    fn insert_statements_have_eleven_values_a_row() {
        let sql = insert_statement(3);
        assert_eq!(sql.matches('$').count(), 33);
        assert!(sql.ends_with("($23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33)"));
    }
}
