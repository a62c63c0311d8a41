//! Scale-out rehearsal with real parts: three `serve` instances on one PostgreSQL behind HAProxy
//! (health check `GET /readyz`). Under steady API and console load, one instance is killed
//! (kill -9), then another is stopped gracefully (SIGTERM), then both are started again. Each
//! phase counts requests and client errors; a session made at the start browses throughout, and
//! a token is created, used, revoked and checked refused again and again across instances.
//!
//! Run: `scripts/scale-rehearsal.sh` (starts PostgreSQL, installs HAProxy when missing), or
//! `CT_REHEARSAL_DATABASE=postgres://… cargo bench --bench rehearsal` with `haproxy` on PATH.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_connect-tokens");
const PASSWORD: &str = "rehearsal-password-1";
const DEVICE: &str = "d-0000-0001";

const PHASES: [&str; 4] = [
    "three instances up",
    "one killed (kill -9)",
    "another stopped (SIGTERM)",
    "both started again",
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the binary with `args` on the rehearsal's database; its standard output.
fn cli(database: &str, dir: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["--database-url", database, "--data-dir"])
        .arg(dir)
        .args(args)
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
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Instance {
    port: u16,
    child: Option<Child>,
}

impl Instance {
    fn start(&mut self, database: &str, dir: &Path) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(dir.join(format!("instance-{}.log", self.port)))
            .unwrap();
        let child = Command::new(BIN)
            .args(["--database-url", database, "--data-dir"])
            .arg(dir)
            // Two seconds of `/readyz` answering 503 at SIGTERM: HAProxy (fall 2 × inter 0.5 s)
            // takes the instance out before it stops accepting.
            .args([
                "serve",
                "--trusted-proxy",
                "--shutdown-drain-secs",
                "2",
                "--bind",
            ])
            .arg(format!("127.0.0.1:{}", self.port))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn signal(&mut self, name: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{name}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.take().unwrap().wait().unwrap();
        println!("  instance :{} exited after SIG{name}: {status}", self.port);
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(client: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(url).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never became ready");
}

/// HAProxy's configuration; `retry` retries a request whose connection failed or closed without
/// an answer (a killed instance) on another instance, which is what the README recommends.
fn haproxy_config(front: u16, backends: &[u16], retry: bool) -> String {
    let retry_on = if retry {
        "conn-failure empty-response"
    } else {
        "conn-failure"
    };
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server app{i} 127.0.0.1:{p}\n"))
        .collect();
    format!(
        "global\n    maxconn 4096\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    \
         timeout server 30s\n    timeout http-keep-alive 10s\n    timeout check 1s\n    \
         retries 3\n    option redispatch 1\n    retry-on {retry_on}\n    \
         option forwardfor\n\
         frontend main\n    bind 127.0.0.1:{front}\n    default_backend app\n\
         backend app\n    balance roundrobin\n    option httpchk GET /readyz\n    \
         http-check expect status 200\n    http-request disable-l7-retry if METH_POST\n    \
         default-server check inter 500ms fall 2 rise 2 pool-purge-delay 1s\n{servers}"
    )
}

/// Requests and client errors per phase, and the first few errors seen.
#[derive(Default)]
struct Tally {
    phase: AtomicUsize,
    requests: [AtomicU64; 4],
    errors: [AtomicU64; 4],
    revocation_cycles: AtomicU64,
    revocation_failures: AtomicU64,
    samples: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Tally {
    fn count(&self, what: &str, outcome: Result<u16, String>, want: u16) -> bool {
        let phase = self.phase.load(Ordering::Relaxed);
        self.requests[phase].fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(status) if status == want => true,
            other => {
                self.errors[phase].fetch_add(1, Ordering::Relaxed);
                let mut samples = self.samples.lock().unwrap();
                if samples.len() < 20 {
                    samples.push(format!("[{}] {what}: {other:?}", PHASES[phase]));
                }
                false
            }
        }
    }
}

async fn status(req: reqwest::RequestBuilder) -> Result<u16, String> {
    req.send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}").chars().take(160).collect())
}

/// Signs in through the proxy; the `Cookie` header of the session.
async fn sign_in(client: &reqwest::Client, front: &str) -> String {
    let cookies = |r: &reqwest::Response| -> Vec<String> {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect()
    };
    let page = client.get(format!("{front}/login")).send().await.unwrap();
    let anchor = cookies(&page).join("; ");
    let html = page.text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf = &html[start..start + html[start..].find('"').unwrap()];
    let signed = client
        .post(format!("{front}/login"))
        .header("cookie", anchor)
        .form(&[("csrf", csrf), ("username", "ops"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303, "signed in");
    cookies(&signed).join("; ")
}

async fn api_load(tally: Arc<Tally>, client: reqwest::Client, url: String, bearer: String) {
    while !tally.stop.load(Ordering::Relaxed) {
        let outcome = status(client.get(&url).bearer_auth(&bearer)).await;
        tally.count("device GET", outcome, 200);
    }
}

async fn console_load(tally: Arc<Tally>, client: reqwest::Client, url: String, cookie: String) {
    while !tally.stop.load(Ordering::Relaxed) {
        let outcome = status(client.get(&url).header("cookie", &cookie)).await;
        tally.count("console page (session)", outcome, 200);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Creates a token, uses it, revokes it and checks it refused, again and again.
async fn revocations(tally: Arc<Tally>, client: reqwest::Client, front: String, admin: String) {
    let expires = time::OffsetDateTime::now_utc().date() + time::Duration::days(5);
    while !tally.stop.load(Ordering::Relaxed) {
        let created = client
            .post(format!("{front}/access/api/v1/tokens"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({
                "type": "device_details", "description": "rehearsal",
                "expires_at": expires.to_string(), "target": {"fleet": "rehearsal"},
                "permissions": ["read"],
            }))
            .send()
            .await;
        let made = match created {
            Ok(r) if r.status() == 201 => r.json::<serde_json::Value>().await.ok(),
            Ok(r) => {
                tally.count("token create", Ok(r.status().as_u16()), 201);
                None
            }
            Err(e) => {
                tally.count("token create", Err(e.to_string()), 201);
                None
            }
        };
        let Some(made) = made else { continue };
        tally.count("token create", Ok(201), 201);
        let (token, id) = (
            made["token"].as_str().unwrap(),
            made["token_id"].as_str().unwrap(),
        );
        let device = format!("{front}/api/v2/rehearsal/devices/{DEVICE}");
        let mut ok = tally.count(
            "new token used",
            status(client.get(&device).bearer_auth(token)).await,
            200,
        );
        let revoke = client
            .delete(format!("{front}/access/api/v1/tokens/{id}"))
            .bearer_auth(&admin);
        ok &= tally.count("token revoke", status(revoke).await, 204);
        // Whichever instance answers next must refuse it at once.
        ok &= tally.count(
            "revoked token refused",
            status(client.get(&device).bearer_auth(token)).await,
            401,
        );
        tally.revocation_cycles.fetch_add(1, Ordering::Relaxed);
        if !ok {
            tally.revocation_failures.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let database = std::env::var("CT_REHEARSAL_DATABASE")
        .expect("CT_REHEARSAL_DATABASE=postgres://… (scripts/scale-rehearsal.sh sets it)");
    let dir = std::env::temp_dir().join(format!("ct-rehearsal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    cli(
        &database,
        &dir,
        &["admin", "create", "--username", "ops"],
        &format!("{PASSWORD}\n"),
    );
    let admin = cli(
        &database,
        &dir,
        &[
            "admin",
            "token",
            "--username",
            "ops",
            "--description",
            "rehearsal",
        ],
        "",
    )
    .trim()
    .to_owned();
    let csv: PathBuf = dir.join("devices.csv");
    std::fs::write(
        &csv,
        format!("fleet,uuid,name,group,tags,description\nrehearsal,{DEVICE},pump,,,\n"),
    )
    .unwrap();
    cli(
        &database,
        &dir,
        &["import-devices", csv.to_str().unwrap()],
        "",
    );

    let client = {
        connect_tokens::webhooks::client::install_crypto_provider();
        reqwest::Client::builder()
    }
    .redirect(reqwest::redirect::Policy::none())
    .timeout(Duration::from_secs(15))
    .build()
    .unwrap();
    let mut instances: Vec<Instance> = (0..3)
        .map(|_| Instance {
            port: free_port(),
            child: None,
        })
        .collect();
    for instance in &mut instances {
        instance.start(&database, &dir);
    }
    for instance in &instances {
        wait_ready(
            &client,
            &format!("http://127.0.0.1:{}/readyz", instance.port),
        )
        .await;
    }
    let front_port = free_port();
    let ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
    let cfg = dir.join("haproxy.cfg");
    // CT_REHEARSAL_RETRY=0: without retrying requests the killed instance swallowed.
    let retry = std::env::var("CT_REHEARSAL_RETRY").map_or(true, |v| v != "0");
    println!(
        "HAProxy retry-on empty-response: {}",
        if retry { "on" } else { "off" }
    );
    std::fs::write(&cfg, haproxy_config(front_port, &ports, retry)).unwrap();
    let haproxy_log = std::fs::File::create(dir.join("haproxy.log")).unwrap();
    let _haproxy = KillOnDrop(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(haproxy_log)
            .spawn()
            .expect("haproxy (Debian package haproxy)"),
    );
    let front = format!("http://127.0.0.1:{front_port}");
    wait_ready(&client, &format!("{front}/readyz")).await;
    // Let every backend pass its health checks.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cookie = sign_in(&client, &front).await;

    let tally = Arc::new(Tally::default());
    let mut load = Vec::new();
    let device_url = format!("{front}/api/v2/rehearsal/devices/{DEVICE}");
    for _ in 0..6 {
        load.push(tokio::spawn(api_load(
            tally.clone(),
            client.clone(),
            device_url.clone(),
            admin.clone(),
        )));
    }
    for _ in 0..2 {
        load.push(tokio::spawn(console_load(
            tally.clone(),
            client.clone(),
            format!("{front}/settings/account"),
            cookie.clone(),
        )));
    }
    load.push(tokio::spawn(revocations(
        tally.clone(),
        client.clone(),
        front.clone(),
        admin.clone(),
    )));

    let phase = Duration::from_secs(5);
    tokio::time::sleep(phase).await;
    tally.phase.store(1, Ordering::Relaxed);
    instances[0].signal("KILL");
    tokio::time::sleep(phase).await;
    tally.phase.store(2, Ordering::Relaxed);
    instances[1].signal("TERM");
    tokio::time::sleep(phase).await;
    tally.phase.store(3, Ordering::Relaxed);
    instances[0].start(&database, &dir);
    instances[1].start(&database, &dir);
    tokio::time::sleep(phase + Duration::from_secs(2)).await;
    tally.stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    println!("\nphase                          requests   client errors");
    for (i, name) in PHASES.iter().enumerate() {
        println!(
            "{name:<30} {:>9}   {:>13}",
            tally.requests[i].load(Ordering::Relaxed),
            tally.errors[i].load(Ordering::Relaxed)
        );
    }
    println!(
        "revocation cycles (create, use, revoke, refused): {}, failed: {}",
        tally.revocation_cycles.load(Ordering::Relaxed),
        tally.revocation_failures.load(Ordering::Relaxed)
    );
    for sample in tally.samples.lock().unwrap().iter() {
        println!("  {sample}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
