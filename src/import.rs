//! `import-devices`: a streaming CSV import, all or nothing.
//!
//! Header `fleet,uuid,name,group,tags,description`; an empty uuid gets a new one; tags are
//! `;`-separated; missing fleets are created. The first bad row stops the import, names its
//! line and leaves the database as it was.
//!
//! The command shows its progress: a bar (by bytes of the file) on a terminal, otherwise a line
//! every few seconds, for logs.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::domain::device::DeviceText;
use crate::domain::names;
use crate::store::Store;
use crate::store::devices::Device;
use crate::store::devices::ImportError;
use crate::store::import::ImportItem;
use tokio::sync::mpsc::Sender;

const HEADER: [&str; 6] = ["fleet", "uuid", "name", "group", "tags", "description"];

/// Checks one CSV record by the device field rules ([`DeviceText`]) and turns it into a device
/// registered at `now`.
pub fn parse_row(record: &csv::StringRecord, now: i64) -> Result<Device, String> {
    if record.len() != HEADER.len() {
        return Err(format!(
            "expected {} fields, found {}",
            HEADER.len(),
            record.len()
        ));
    }
    let field = |i: usize| record.get(i).unwrap_or_default();
    let fleet = field(0).trim();
    names::validate_fleet_key(fleet).map_err(|e| format!("fleet {fleet:?}: {e}"))?;
    let uuid = match field(1).trim() {
        "" => names::new_device_uuid(),
        u => names::normalize_device_uuid(u)
            .ok_or_else(|| format!("uuid {u:?} is not of the form d-xxxx-xxxx"))?,
    };
    let text =
        DeviceText::parse(field(2), field(3), field(4), field(5)).map_err(|e| e.to_string())?;
    Ok(Device {
        uuid,
        fleet_key: fleet.to_owned(),
        name: text.name,
        group_name: text.group,
        tags: Device::frame_tags(&text.tags),
        description: text.description,
        ip: String::new(),
        agent_version: String::new(),
        last_keepalive: None,
        registered_at: now,
    })
}

/// Rows the reader sends at a time (one `COPY` on PostgreSQL).
const BATCH: usize = 5_000;

/// Imports `reader` (CSV with header) into the store; returns the number of devices. The file is
/// read and checked on a thread of its own while the database writes the previous batch.
pub async fn import_csv<R: std::io::Read + Send + 'static>(
    store: &Store,
    reader: R,
    mut progress: impl FnMut(u64),
) -> Result<u64, ImportError> {
    // Two batches in flight at most: the memory stays flat whatever the file's size.
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let now = crate::domain::now();
    std::thread::Builder::new()
        .name("import-csv".into())
        .spawn(move || read_rows(reader, now, &tx))
        .map_err(|e| ImportError::Interrupted(format!("cannot start the reader: {e}")))?;
    store.import_devices(&mut rx, &mut progress).await
}

/// Reads and checks the file, sending batches of rows, then [`ImportItem::End`]; stops at the
/// first bad row (sent as [`ImportItem::Bad`]) or when the import stopped listening.
fn read_rows<R: std::io::Read>(reader: R, now: i64, out: &Sender<ImportItem>) {
    let bad = |line, message| ImportItem::Bad { line, message };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let names: Vec<String> = match csv.headers() {
        Ok(h) => h.iter().map(|n| n.trim().to_owned()).collect(),
        Err(e) => {
            let _ = out.blocking_send(bad(1, e.to_string()));
            return;
        }
    };
    if names != HEADER {
        let message = format!("the header must be {}", HEADER.join(","));
        let _ = out.blocking_send(bad(1, message));
        return;
    }
    let mut rows = Vec::with_capacity(BATCH);
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The rows before it go first: a repeated UUID among them is the earlier fault.
                let stop = match e.position() {
                    Some(p) => bad(p.line(), e.to_string()),
                    None => ImportItem::Unreadable(e.to_string()),
                };
                let _ = out.blocking_send(ImportItem::Rows(rows));
                let _ = out.blocking_send(stop);
                return;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        match parse_row(&record, now) {
            Ok(d) => rows.push((line, d)),
            Err(message) => {
                let _ = out.blocking_send(ImportItem::Rows(rows));
                let _ = out.blocking_send(bad(line, message));
                return;
            }
        }
        if rows.len() == BATCH {
            let full = std::mem::replace(&mut rows, Vec::with_capacity(BATCH));
            if out.blocking_send(ImportItem::Rows(full)).is_err() {
                return;
            }
        }
    }
    if !rows.is_empty() && out.blocking_send(ImportItem::Rows(rows)).is_err() {
        return;
    }
    let _ = out.blocking_send(ImportItem::End);
}

/// A reader that counts the bytes read through it (for progress by bytes).
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How an import shows its progress on standard error.
enum Progress {
    /// A bar on a terminal.
    Bar(indicatif::ProgressBar),
    /// A line every `every`, for logs.
    Lines {
        every: Duration,
        last: Instant,
        size: u64,
        started: Instant,
    },
}

impl Progress {
    fn new(size: u64, every: Duration) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(size);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {percent:>3}% {msg} (eta {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            Progress::Bar(bar)
        } else {
            let now = Instant::now();
            Progress::Lines {
                every,
                last: now,
                size,
                started: now,
            }
        }
    }

    /// `rows` imported so far, `bytes` of the file read.
    fn update(&mut self, rows: u64, bytes: u64) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{rows} rows"));
            }
            Progress::Lines {
                every,
                last,
                size,
                started,
            } => {
                if last.elapsed() < *every {
                    return;
                }
                *last = Instant::now();
                let percent = bytes.saturating_mul(100) / (*size).max(1);
                let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprintln!("import: {rows} rows, {percent}% of the file, {rate:.0} rows/s");
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// The `import-devices` command; a progress line every `progress_every` when standard error is
/// not a terminal.
pub async fn import_csv_file(
    store: &Store,
    path: &Path,
    progress_every: Duration,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read = Arc::new(AtomicU64::new(0));
    let reader = Counting {
        inner: file,
        read: read.clone(),
    };
    let started = Instant::now();
    let mut progress = Progress::new(size, progress_every);
    let result = import_csv(
        store,
        std::io::BufReader::with_capacity(1 << 16, reader),
        |n| {
            progress.update(n, read.load(Ordering::Relaxed));
        },
    )
    .await;
    progress.finish();
    match result {
        Ok(n) => {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "imported {n} devices in {secs:.1} s ({:.0} rows/s)",
                n as f64 / secs.max(1e-9)
            );
            Ok(())
        }
        Err(ImportError::Row { line, message }) => {
            anyhow::bail!("line {line}: {message}; nothing was imported")
        }
        Err(ImportError::Interrupted(e)) => anyhow::bail!("{e}; nothing was imported"),
        Err(ImportError::Store(e)) => {
            Err(anyhow::Error::from(e).context("import failed; nothing was imported"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn rows_are_checked_field_by_field() {
        let d = parse_row(
            &rec(&[
                "demo",
                "D-00AA-11BB",
                "Gateway 1",
                "edge",
                "Lab; north",
                "x",
            ]),
            5,
        )
        .unwrap();
        assert_eq!(d.uuid, "d-00aa-11bb");
        assert_eq!(d.tags, ";lab;north;");
        assert_eq!(d.tag_list(), ["lab", "north"]);
        let generated = parse_row(&rec(&["demo", "", "n", "", "", ""]), 5).unwrap();
        assert!(names::is_device_uuid(&generated.uuid));
        assert_eq!(generated.tags, ";");
        assert!(
            parse_row(&rec(&["Demo", "", "n", "", "", ""]), 5)
                .unwrap_err()
                .contains("fleet")
        );
        assert!(
            parse_row(&rec(&["demo", "x", "n", "", "", ""]), 5)
                .unwrap_err()
                .contains("uuid")
        );
        assert!(
            parse_row(&rec(&["demo", "", "", "", "", ""]), 5)
                .unwrap_err()
                .contains("name")
        );
        assert!(
            parse_row(&rec(&["demo", "", "n", "", "a b", ""]), 5)
                .unwrap_err()
                .contains("tag")
        );
        assert!(
            parse_row(&rec(&["demo", "", "n"]), 5)
                .unwrap_err()
                .contains("fields")
        );
        // The same rules as the API and the console: no control characters.
        for bad in [
            ["demo", "", "a\u{1b}[31m", "", "", ""],
            ["demo", "", "n", "g\u{0}", "", ""],
            ["demo", "", "n", "", "", "nul \u{0}"],
        ] {
            assert!(parse_row(&rec(&bad), 5).is_err(), "{bad:?}");
        }
    }
}
