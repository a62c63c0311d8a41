//! The `connect-tokens` binary: demo quick start, user and token commands, CSV import, and
//! logs that never contain a secret — run as a real process.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{browser, hidden, temp_dir, tokens_in};

pub const BIN: &str = env!("CARGO_BIN_EXE_connect-tokens");

pub fn run(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `run` that must succeed; its standard output.
fn run_ok(data_dir: &std::path::Path, args: &[&str], stdin: &str) -> String {
    let out = run(data_dir, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Creates the administrator `ops` with the command line; `global` options (such as
/// `--database-url`) come first.
pub fn create_admin_ops(data_dir: &std::path::Path, global: &[&str]) {
    let args = [global, &["admin", "create", "--username", "ops"]].concat();
    run_ok(data_dir, &args, "a-long-enough-password\n");
}

/// A new user token of `username`, as `admin token` prints it; `more` options follow (such as
/// `--expires`).
pub fn admin_token(
    data_dir: &std::path::Path,
    global: &[&str],
    username: &str,
    more: &[&str],
) -> String {
    let command = [
        "admin",
        "token",
        "--username",
        username,
        "--description",
        "test",
    ];
    let args = [global, &command, more].concat();
    run_ok(data_dir, &args, "").trim().to_owned()
}

pub struct Server {
    child: Child,
    pub base: String,
    stdout_lines: Vec<String>,
}

impl Server {
    /// Sends SIGTERM (as an orchestrator stopping the container would).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal named `name` (`HUP`, `TERM`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit; its status, or None if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's `host:port`.
    pub fn authority(&self) -> &str {
        self.base
            .trim_start_matches("http://")
            .trim_start_matches("https://")
    }

    /// The metrics listener's URL, as the server printed it (`--metrics-bind`).
    pub fn metrics_url(&self) -> String {
        self.said()
            .iter()
            .find_map(|l| l.strip_prefix("metrics: "))
            .expect("the metrics address is printed")
            .to_owned()
    }

    /// What the server printed at start, up to where it said it was listening.
    pub fn said(&self) -> &[String] {
        &self.stdout_lines
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on port 0 and reads stdout until it says where to sign in.
fn serve(
    data_dir: &std::path::Path,
    extra: &[&str],
    rust_log: &str,
    stderr_file: Option<&std::path::Path>,
) -> Server {
    serve_on(data_dir, None, extra, rust_log, stderr_file)
}

/// Starts `serve` on port 0, on `database_url` (PostgreSQL) or the data dir's SQLite file.
pub fn serve_on(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    extra: &[&str],
    rust_log: &str,
    stderr_file: Option<&std::path::Path>,
) -> Server {
    serve_via(
        &[],
        data_dir,
        database_url,
        extra,
        rust_log,
        stderr_file,
        &[],
    )
}

/// [`serve_on`] run through `wrapper` (a command that execs the binary it is given, such as
/// `prlimit --nofile=…`; none: the binary itself), with more environment variables (such as
/// `LD_PRELOAD` for libfaketime).
pub fn serve_via(
    wrapper: &[&str],
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    extra: &[&str],
    rust_log: &str,
    stderr_file: Option<&std::path::Path>,
    env: &[(&str, &str)],
) -> Server {
    let stderr = match stderr_file {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::null(),
    };
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    let child = command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", rust_log)
        .env_remove("DATABASE_URL")
        .envs(database_url.map(|u| ("DATABASE_URL", u)))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    // Owned by `Server` at once, whose `Drop` kills and waits.
    let mut server = Server {
        child,
        base: String::new(),
        stdout_lines: Vec::new(),
    };
    let stdout = server.child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        server.stdout_lines.push(line.clone());
        if let Some((_, url)) = line.split_once("is listening: sign in at ") {
            server.base = url.trim_end_matches("/login").to_owned();
            // Keep draining stdout so the server never writes to a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return server;
        }
    }
    panic!("server exited early: {:?}", server.stdout_lines);
}

#[tokio::test]
async fn demo_quick_start_prints_where_to_sign_in_and_a_working_password() {
    let dir = temp_dir("demo");
    let server = serve(&dir, &["--demo"], "warn", None);
    let pw_line = server
        .stdout_lines
        .iter()
        .find(|l| l.contains("sign in as admin"))
        .expect("password printed");
    let password = pw_line
        .split("password ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let b = browser(&server.base);
    assert_eq!(
        b.login("admin", password).await.status,
        StatusCode::SEE_OTHER
    );
    let dash = b.get("/dashboard").await.body;
    assert!(
        dash.contains(r#"<p class="stat-value">300</p><p class="stat-label">Devices</p>"#),
        "{dash}"
    );
    let search = b
        .get("/settings/account/device-search?q=gateway")
        .await
        .json();
    assert!(!search["devices"].as_array().unwrap().is_empty());
    drop(server);
    // A second start does not seed again nor print a password.
    let again = serve(&dir, &["--demo"], "warn", None);
    assert!(again.stdout_lines.iter().all(|l| !l.contains("password")));
    drop(again);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn admin_create_reads_the_password_from_stdin_and_admin_token_prints_a_working_token() {
    let dir = temp_dir("cli");
    let out = run(
        &dir,
        &[
            "admin",
            "create",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
        ],
        "a-long-enough-password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dup = run(
        &dir,
        &["admin", "create", "--username", "ops"],
        "a-long-enough-password\n",
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let weak = run(&dir, &["user", "create", "--username", "weak"], "short\n");
    assert!(!weak.status.success());
    let out = run(
        &dir,
        &["user", "create", "--username", "viewer"],
        "another-long-password\n",
    );
    assert!(out.status.success());

    let out = run(
        &dir,
        &[
            "admin",
            "token",
            "--username",
            "ops",
            "--description",
            "automation",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let found = tokens_in(&stdout);
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("ctu_"));
    let bad = run(
        &dir,
        &[
            "admin",
            "token",
            "--username",
            "ops",
            "--description",
            "x",
            "--expires",
            "2001-01-01",
        ],
        "",
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be in the future"));

    // The printed password signs in.
    let server = serve(&dir, &[], "warn", None);
    let b = browser(&server.base);
    assert_eq!(
        b.login("ops", "a-long-enough-password").await.status,
        StatusCode::SEE_OTHER
    );
    let b2 = browser(&server.base);
    assert_eq!(
        b2.login("viewer", "another-long-password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        b2.get("/settings/account/device-token").await.status,
        StatusCode::FORBIDDEN
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn import_devices_is_all_or_nothing_and_names_the_bad_line() {
    let dir = temp_dir("import");
    let good = dir.join("good.csv");
    std::fs::write(&good, "fleet,uuid,name,group,tags,description\nnorth,d-0000-0001,pump 1,g1,a;b,first\nnorth,,pump 2,,,\nsouth,D-0000-0003,\"valve, main\",g2,x,\"quoted, text\"\n").unwrap();
    let out = run(&dir, &["import-devices", good.to_str().unwrap()], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 devices"));

    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "fleet,uuid,name,group,tags,description\neast,d-0000-0101,ok,,,\neast,d-0000-0102,ok,,,\neast,not-a-uuid,broken,,,\n").unwrap();
    let out = run(&dir, &["import-devices", bad.to_str().unwrap()], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4") && err.contains("nothing was imported"),
        "{err}"
    );

    let dup = dir.join("dup.csv");
    std::fs::write(&dup, "fleet,uuid,name,group,tags,description\neast,d-0000-0201,ok,,,\nnorth,d-0000-0001,again,,,\n").unwrap();
    let out = run(&dir, &["import-devices", dup.to_str().unwrap()], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));

    let header = dir.join("header.csv");
    std::fs::write(&header, "name,fleet\nx,y\n").unwrap();
    let out = run(&dir, &["import-devices", header.to_str().unwrap()], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));

    let store = connect_tokens::Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let (total, _) = store.device_counts(0).await.unwrap();
    assert_eq!(total, 3, "failed imports left nothing behind");
    assert!(
        store.fleet("east").await.unwrap().is_none(),
        "not even the fleet"
    );
    let d = store.device("d-0000-0003").await.unwrap().unwrap();
    assert_eq!(
        (
            d.fleet_key.as_str(),
            d.name.as_str(),
            d.description.as_str()
        ),
        ("south", "valve, main", "quoted, text")
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn trace_logs_contain_no_password_session_csrf_or_token() {
    let dir = temp_dir("logs");
    let out = run(
        &dir,
        &["admin", "create", "--username", "tracer"],
        "trace-me-password-123\n",
    );
    assert!(out.status.success());
    let log = dir.join("server.log");
    let server = serve(&dir, &[], "trace", Some(&log));
    let b = browser(&server.base);
    b.get("/login").await;
    let login_cookie = b.cookie("ct_login").unwrap();
    assert_eq!(
        b.login("tracer", "trace-me-password-123").await.status,
        StatusCode::SEE_OTHER
    );
    let session = b.cookie("ct_session").unwrap();
    // Give the server something to generate (a fleet to target).
    let store_url = connect_tokens::config::sqlite_url(&dir);
    let store = connect_tokens::Store::connect(&store_url).await.unwrap();
    store
        .create_fleet(
            &connect_tokens::store::fleets::Fleet {
                key: "logs".into(),
                name: "Logs".into(),
                description: String::new(),
            },
            0,
        )
        .await
        .unwrap();
    let page = b.get("/settings/account/device-token").await.body;
    let (csrf, nonce) = (hidden(&page, "csrf"), hidden(&page, "nonce"));
    let expires = connect_tokens::domain::expiry::format_date(
        time::OffsetDateTime::now_utc().date() + time::Duration::days(3),
    );
    let r = b
        .post(
            "/settings/account/device-token",
            &[
                ("csrf", &csrf),
                ("nonce", &nonce),
                ("description", "log check"),
                ("expires", &expires),
                ("target_kind", "fleet"),
                ("fleet", "logs"),
                ("perm_read", "on"),
            ],
        )
        .await;
    let token = tokens_in(&r.body).pop().expect("token generated");
    // A token pasted into a query string or a path must not reach the logs either.
    b.get(&format!("/settings/account?token={token}")).await;
    b.get(&format!("/devices/{token}")).await;
    let api = crate::helpers::http_client();
    for path in [
        format!("/api/v2/{token}/devices"),
        format!("/api/v2/logs/devices/{token}"),
        format!("/access/api/v1/tokens/{token}"),
    ] {
        let status = api
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "{status}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(server);
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.len() > 1000, "trace logging was on");
    for (what, secret) in [
        ("password", "trace-me-password-123"),
        ("session", session.as_str()),
        ("login cookie", login_cookie.as_str()),
        ("csrf as the page carries it", csrf.as_str()),
        ("csrf", crate::helpers::unmask_csrf(&csrf).as_str()),
        ("token", token.as_str()),
    ] {
        assert!(!logs.contains(secret), "{what} found in the logs");
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn import_devices_shows_progress_lines_in_logs_and_a_bar_on_a_terminal() {
    let dir = temp_dir("import-progress");
    let csv = dir.join("many.csv");
    let mut text = String::from("fleet,uuid,name,group,tags,description\n");
    for i in 0..12_000 {
        text.push_str(&format!("north,d-{i:04x}-0000,pump {i},g,a,\n"));
    }
    std::fs::write(&csv, &text).unwrap();
    // Not a terminal: lines, here one per batch the import writes (5,000 rows).
    let out = run(
        &dir,
        &[
            "import-devices",
            "--progress-every",
            "0",
            csv.to_str().unwrap(),
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let counts: Vec<u64> = err
        .lines()
        .filter_map(|l| l.strip_prefix("import: ")?.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(counts, [5000, 10_000, 12_000], "{err}");
    assert!(err.contains("% of the file"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 12000 devices"));
    // A terminal (util-linux `script` gives the command one): a bar, no log lines.
    let again = dir.join("again.csv");
    std::fs::write(
        &again,
        text.replace("north,", "south,").replace("-0000,", "-0001,"),
    )
    .unwrap();
    let command = format!(
        "{BIN} --data-dir {} import-devices {}",
        dir.display(),
        again.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("DATABASE_URL")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("imported 12000 devices"), "{shown}");
    assert!(
        shown.contains("rows (eta") && shown.contains('%'),
        "{shown}"
    );
    assert!(!shown.contains("import: "), "{shown}");
}
