//! `import-devices` through the store on either database (SQLite: multi-row inserts;
//! PostgreSQL: `COPY`): a repeated or existing UUID and a bad row are named by their line in the
//! file wherever they fall — in the first batch, after batches were written, across batches —
//! and nothing is written, not even the fleets the file would have created.

use connect_tokens::import::import_csv;

use crate::helpers::spawn_app;

/// `n` rows for fleet `fleet` (line of row i: i + 2), then changes by line.
fn file(fleet: &str, n: usize, changes: &[(usize, &str)]) -> String {
    let mut lines: Vec<String> = (0..n)
        .map(|i| format!("{fleet},d-7{:03x}-{:04x},dev {i},g,a,", i >> 16, i & 0xffff))
        .collect();
    for (line, text) in changes {
        lines[line - 2] = (*text).to_owned();
    }
    format!(
        "fleet,uuid,name,group,tags,description\n{}\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn a_bad_or_repeated_row_is_named_by_its_line_and_nothing_is_written() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let existing = format!("delta,{},again,,,", alpha[1]);
    let cases = [
        // In the first batch: line 50 repeats line 10's UUID.
        (
            file("delta", 100, &[(50, "delta,d-7000-0008,dup,,,")]),
            "line 50",
            "already exists",
        ),
        // In a later batch than the row it repeats.
        (
            file("delta", 7_000, &[(6_500, "delta,d-7000-0001,dup,,,")]),
            "line 6500",
            "already exists",
        ),
        // A device that was there before the import, in the last row.
        (
            file("delta", 9_000, &[(9_000, existing.as_str())]),
            "line 9000",
            "already exists",
        ),
        // A repeated UUID before a bad row in the same batch: the earlier fault is named.
        (
            file(
                "delta",
                100,
                &[(20, "delta,d-7000-0008,dup,,,"), (30, "delta,,,,,")],
            ),
            "line 20",
            "already exists",
        ),
        // A bad row after two batches were written.
        (
            file("delta", 12_000, &[(12_000, "delta,,,,,")]),
            "line 12000",
            "name",
        ),
    ];
    let before = app.store.device_counts(0).await.unwrap();
    for (text, line, what) in cases {
        let err = import_csv(&app.store, std::io::Cursor::new(text), |_| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(line) && err.contains(what), "{line}: {err}");
        assert_eq!(app.store.device_counts(0).await.unwrap(), before, "{line}");
        assert!(app.store.fleet("delta").await.unwrap().is_none(), "{line}");
    }
    // The same file without the mistakes goes in whole.
    // (A backslash is COPY's escape character: it must arrive as it was sent.)
    let good = file(
        "delta",
        12_000,
        &[(5, r"delta,d-7000-0003,dev \3,g,a,C:\path\N")],
    );
    let n = import_csv(&app.store, std::io::Cursor::new(good), |_| {})
        .await
        .unwrap();
    assert_eq!(n, 12_000);
    assert_eq!(
        app.store.device_counts(0).await.unwrap().0,
        before.0 + 12_000
    );
    let d = app.store.device("d-7000-2ee0").await.unwrap();
    assert!(d.is_none(), "12,000 rows are d-7000-0000 … d-7000-2edf");
    let last = app.store.device("d-7000-2edf").await.unwrap().unwrap();
    let escaped = app.store.device("d-7000-0003").await.unwrap().unwrap();
    assert_eq!(
        (escaped.name.as_str(), escaped.description.as_str()),
        (r"dev \3", r"C:\path\N")
    );
    assert_eq!(
        (last.name.as_str(), last.fleet_key.as_str()),
        ("dev 11999", "delta")
    );
}
