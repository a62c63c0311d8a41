//! Benchmark: fast at a million (issue #16), SQLite and PostgreSQL side by side.
//!
//! 1. `import-devices` (the real command) of a CSV of `CT_SCALE_IMPORT` rows (1,000,000; UUIDs
//!    scattered) into an empty database: rows per second and the command's peak memory.
//! 2. A database of `CT_SCALE_DEVICES` devices (10,000,000), `CT_SCALE_TOKENS` tokens
//!    (1,000,000) and `CT_SCALE_AUDIT` audit entries (10,000,000), then the console's pages over
//!    HTTP for a signed-in admin: the dashboard and Account tab (counts), token searches, the
//!    Audit Log and its filters. Medians and p95s of `CT_SCALE_ROUNDS` (40) requests each.
//!
//! Run: `scripts/scale-bench.sh` (starts PostgreSQL, then runs this with
//! `CT_BENCH_DATABASE` set); alone, `cargo bench --bench scale` measures SQLite only. At the
//! full sizes the data takes about a quarter of an hour to build per database and ~6 GB of disk.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use connect_tokens::Store;

mod common;
mod scale_data;

use scale_data::Raw;

fn size(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A fresh database: SQLite in `dir`, or a new one on the PostgreSQL server at `pg`.
async fn fresh(dir: &Path, pg: Option<&str>, tag: &str) -> String {
    match pg {
        None => {
            let at = dir.join(tag);
            std::fs::create_dir_all(&at).unwrap();
            connect_tokens::config::sqlite_url(&at)
        }
        Some(base) => {
            let name = format!("bench_{tag}_{}", uuid::Uuid::new_v4().simple());
            Raw::open(base)
                .await
                .exec(format!("CREATE DATABASE {name}"))
                .await;
            let (prefix, _) = base.rsplit_once('/').unwrap();
            format!("{prefix}/{name}")
        }
    }
}

/// A CSV of `n` devices whose UUIDs are scattered over the whole space (a bijection of the row
/// number, so none repeats).
fn write_csv(path: &Path, n: u64) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "fleet,uuid,name,group,tags,description").unwrap();
    for i in 0..n {
        let u = (i as u32).wrapping_mul(2_654_435_761);
        writeln!(
            out,
            "fleet{},d-{:04x}-{:04x},device-{i:07},g{},prod;edge,imported row {i}",
            i % 10,
            u >> 16,
            u & 0xffff,
            i % 100
        )
        .unwrap();
    }
}

/// Runs `import-devices` on `csv` against `url`: (rows per second, peak RSS in MiB).
fn import(url: &str, data_dir: &Path, csv: &Path) -> (f64, f64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak_rss_kb=%M", env!("CARGO_BIN_EXE_connect-tokens")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["import-devices", "--progress-every", "3600"])
        .arg(csv)
        .env("DATABASE_URL", url)
        .output()
        .expect("/usr/bin/time (Debian package `time`)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let rate = stdout
        .split('(')
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let rss: f64 = stderr
        .split("peak_rss_kb=")
        .nth(1)
        .and_then(|s| s.trim().parse().ok())
        .unwrap();
    (rate, rss / 1024.0)
}

/// Median and p95 of `rounds` GETs of `path`.
async fn time_page(c: &common::Console, path: &str, rounds: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let r = c
            .client
            .get(format!("{}{path}", c.base))
            .header("cookie", &c.session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    (
        samples[rounds / 2],
        samples[(rounds * 95).div_ceil(100) - 1],
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// The pages measured, with what each shows.
fn pages(token_id: &str, audited: &str, mid_audit_id: &str) -> Vec<(String, String)> {
    let p = |label: &str, path: String| (label.to_owned(), path);
    vec![
        p("dashboard (counts)", "/dashboard".into()),
        p("Account tab (counts)", "/settings/account".into()),
        p("tokens: first page", "/settings/access-tokens".into()),
        p(
            "search: rare word (10 hits)",
            "/settings/access-tokens?q=needle-xyz".into(),
        ),
        p(
            "search: common word (1 in 8)",
            "/settings/access-tokens?q=deploy".into(),
        ),
        p(
            "search: username (1 in 50)",
            "/settings/access-tokens?q=user7".into(),
        ),
        p(
            "search: Token ID, 13 chars",
            format!("/settings/access-tokens?q={}", &token_id[..13]),
        ),
        p(
            "search: whole Token ID",
            format!("/settings/access-tokens?q={token_id}"),
        ),
        p(
            "search: hint",
            "/settings/access-tokens?q=%E2%80%A6ab12".into(),
        ),
        p(
            "search: fleet, active only",
            "/settings/access-tokens?q=fleet3&status=active".into(),
        ),
        p(
            "search: no match",
            "/settings/access-tokens?q=no-such-token".into(),
        ),
        p("audit: first page", "/settings/audit".into()),
        p(
            "audit: sign-ins (group)",
            "/settings/audit?action=signin".into(),
        ),
        p(
            "audit: users (rare group)",
            "/settings/audit?action=user".into(),
        ),
        p("audit: actor", "/settings/audit?q=user7".into()),
        p("audit: Token ID", format!("/settings/audit?q={audited}")),
        p(
            "audit: group and actor",
            "/settings/audit?action=token.generated&q=user8".into(),
        ),
        p(
            "audit: a page in the middle",
            format!("/settings/audit?before={mid_audit_id}"),
        ),
    ]
}

struct Measured {
    import_rate: f64,
    import_rss: f64,
    build_secs: f64,
    pages: Vec<(String, Duration, Duration)>,
}

async fn measure(dir: &Path, pg: Option<&str>, csv: &Path) -> Measured {
    let name = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    let import_url = fresh(dir, pg, "import").await;
    let import_dir = dir.join(format!("import-{name}"));
    std::fs::create_dir_all(&import_dir).unwrap();
    let (import_rate, import_rss) = import(&import_url, &import_dir, csv);
    println!("{name}: import {import_rate:.0} rows/s, peak RSS {import_rss:.0} MiB");

    let url = fresh(dir, pg, "scale").await;
    let store = Store::connect(&url).await.unwrap();
    let raw = Raw::open(&url).await;
    let now = connect_tokens::domain::now();
    let t = Instant::now();
    scale_data::devices(&store, size("CT_SCALE_DEVICES", 10_000_000), now).await;
    println!(
        "{name}: devices built in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    scale_data::tokens(&raw, size("CT_SCALE_TOKENS", 1_000_000) as i64, now).await;
    println!("{name}: tokens built in {:.0} s", t.elapsed().as_secs_f64());
    scale_data::audit(&raw, size("CT_SCALE_AUDIT", 10_000_000) as i64, now).await;
    // What autovacuum does within a minute or two of the build: the counter rows' old
    // versions go (each import batch and token insert updated them).
    raw.exec(if pg.is_some() {
        "VACUUM ANALYZE".into()
    } else {
        "PRAGMA optimize".into()
    })
    .await;
    let build_secs = t.elapsed().as_secs_f64();
    println!("{name}: all data built in {build_secs:.0} s");

    let token_id = raw
        .text("SELECT id FROM tokens WHERE description LIKE 'backup job %' ORDER BY created_at LIMIT 1 OFFSET 1000")
        .await;
    let audited = raw
        .text("SELECT token_id FROM audit_events WHERE token_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 5000")
        .await;
    let mid = raw
        .text("SELECT CAST(MAX(id) / 2 AS TEXT) FROM audit_events")
        .await;
    let console = common::console(&store).await;
    let rounds = size("CT_SCALE_ROUNDS", 40) as usize;
    let mut pages_out = Vec::new();
    for (label, path) in pages(&token_id, &audited, &mid) {
        time_page(&console, &path, 3).await;
        let (median, p95) = time_page(&console, &path, rounds).await;
        println!("{name}: {label}: {} / {} ms", ms(median), ms(p95));
        pages_out.push((label, median, p95));
    }
    store.close().await;
    Measured {
        import_rate,
        import_rss,
        build_secs,
        pages: pages_out,
    }
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("ct-bench-scale-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("devices.csv");
    write_csv(&csv, size("CT_SCALE_IMPORT", 1_000_000));
    let pg = std::env::var("CT_BENCH_DATABASE").ok();
    let mut runs = vec![("SQLite", measure(&dir, None, &csv).await)];
    if let Some(pg) = pg.as_deref() {
        runs.push(("PostgreSQL", measure(&dir, Some(pg), &csv).await));
    }
    println!(
        "\nsizes: {} devices, {} tokens, {} audit entries; import of {} rows",
        size("CT_SCALE_DEVICES", 10_000_000),
        size("CT_SCALE_TOKENS", 1_000_000),
        size("CT_SCALE_AUDIT", 10_000_000),
        size("CT_SCALE_IMPORT", 1_000_000)
    );
    let mut header = format!("{:<34}", "ms (median / p95)");
    for (name, _) in &runs {
        header.push_str(&format!(" {name:>20}"));
    }
    println!("{header}");
    for (name, m) in &runs {
        println!(
            "{name}: import {:.0} rows/s, peak RSS {:.0} MiB; data built in {:.0} s",
            m.import_rate, m.import_rss, m.build_secs
        );
    }
    for (i, (label, _, _)) in runs[0].1.pages.iter().enumerate() {
        let mut line = format!("{label:<34}");
        for (_, m) in &runs {
            let (_, median, p95) = &m.pages[i];
            line.push_str(&format!(" {:>9} / {:>8}", ms(*median), ms(*p95)));
        }
        println!("{line}");
    }
    if std::env::var_os("CT_SCALE_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("kept {}", dir.display());
    }
}
