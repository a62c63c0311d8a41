//! The listener under hostile traffic (SECURITY.md 21–22), through the real binary: slow and
//! idle connections are closed, a full server makes room by closing its idlest connection, many
//! idle connections do not stop authenticated requests, and SIGTERM exits by the deadline with
//! a stalled client connected — writing the usage stamps first.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::{Server, create_admin_ops, serve_on, serve_via};
use crate::helpers::temp_dir;

/// An admin and their user token in a fresh data dir, made with the command line.
fn admin_token(dir: &std::path::Path) -> String {
    create_admin_ops(dir, &[]);
    crate::cli::admin_token(dir, &[], "ops", &[])
}

/// Reads until the server closes the connection (or `limit` passes); how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf))
            .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// One `GET path` on its own connection; the status.
async fn get(server: &Server, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = crate::helpers::http_client().get(format!("{}{path}", server.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::REQUEST_TIMEOUT)
}

#[tokio::test]
async fn slow_headers_stalled_bodies_and_idle_keep_alives_are_closed() {
    let dir = temp_dir("listener");
    let server = serve_on(
        &dir,
        None,
        &[
            "--header-read-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "2",
            "--request-timeout-secs",
            "3",
        ],
        "warn",
        None,
    );
    // Headers that never end.
    let mut slow = TcpStream::connect(server.authority()).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // A body that stops halfway.
    let mut stalled = TcpStream::connect(server.authority()).await.unwrap();
    stalled
        .write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=")
        .await
        .unwrap();
    // A kept-alive connection that goes quiet after one answer.
    let mut idle = TcpStream::connect(server.authority()).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));

    // A body that trickles in, a byte every half second: never idle, but never done.
    let mut trickle = TcpStream::connect(server.authority()).await.unwrap();
    trickle
        .write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let (mut trickle_read, mut trickle_write) = trickle.into_split();
    let dripping = tokio::spawn(async move {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if trickle_write.write_all(b"a").await.is_err() {
                return;
            }
        }
    });

    let limit = Duration::from_secs(8);
    let trickled = async {
        let start = Instant::now();
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout(
                limit.saturating_sub(start.elapsed()),
                trickle_read.read(&mut buf),
            )
            .await
            {
                Err(_) => return None,
                Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
                Ok(Ok(_)) => {}
            }
        }
    };
    let (slow, stalled, idle, trickled) = tokio::join!(
        closed_within(&mut slow, limit),
        closed_within(&mut stalled, limit),
        closed_within(&mut idle, limit),
        trickled
    );
    assert!(slow.is_some(), "slow headers cut off");
    assert!(stalled.is_some(), "stalled body cut off");
    assert!(idle.is_some(), "idle keep-alive closed");
    assert!(
        trickled.is_some(),
        "a trickling body cut off at the request deadline"
    );
    dripping.abort();
    assert_eq!(get(&server, "/healthz", None).await, StatusCode::OK);
}

#[tokio::test]
async fn a_full_server_closes_its_idlest_connection_to_let_a_new_one_in() {
    let dir = temp_dir("listener");
    let server = serve_on(&dir, None, &["--max-connections", "20"], "warn", None);
    let mut hogs = Vec::new();
    for _ in 0..40 {
        hogs.push(TcpStream::connect(server.authority()).await.unwrap());
    }
    // The first 20 are in; once they have been idle a moment, a new request still gets through.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..5 {
        assert_eq!(get(&server, "/healthz", None).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn two_thousand_idle_connections_do_not_stop_authenticated_requests() {
    let dir = temp_dir("listener");
    let token = admin_token(&dir);
    let server = serve_on(&dir, None, &[], "warn", None);
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(server.authority()).await.unwrap());
    }
    let client = crate::helpers::http_client();
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let start = Instant::now();
        let r = client
            .get(format!("{}/api/v2/fleets", server.base))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        slowest = slowest.max(start.elapsed());
    }
    // A loose bound: the figure itself is the benchmark's (tests/bench/hostile.rs).
    assert!(slowest < Duration::from_secs(2), "slowest {slowest:?}");
    drop(idle);
}

#[tokio::test]
async fn sigterm_with_a_stalled_client_exits_by_the_deadline_and_flushes_usage() {
    let dir = temp_dir("listener");
    let token = admin_token(&dir);
    let mut server = serve_on(
        &dir,
        None,
        &[
            "--shutdown-deadline-secs",
            "2",
            "--usage-flush-secs",
            "3600",
        ],
        "warn",
        None,
    );
    assert_eq!(
        get(&server, "/api/v2/fleets", Some(&token)).await,
        StatusCode::OK
    );
    // An in-flight request whose body never comes, and a half-sent request head.
    let mut stalled = TcpStream::connect(server.authority()).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /access/api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"type\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut half = TcpStream::connect(server.authority()).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    server.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(8));
        (status, server)
    })
    .await
    .unwrap();
    let took = start.elapsed();
    let status = status
        .0
        .expect("the server exits despite the stalled clients");
    assert!(status.success(), "{status:?}");
    assert!(
        took < Duration::from_secs(6),
        "exited after {took:?} (deadline 2 s)"
    );
    // The use before the shutdown is recorded (the flush interval alone would not have).
    let store = connect_tokens::Store::connect(&connect_tokens::config::sqlite_url(&dir))
        .await
        .unwrap();
    let tokens = crate::helpers::newest_tokens(&store, 10).await;
    assert!(
        tokens[0].last_used_at.is_some(),
        "usage flushed at shutdown"
    );
}

#[tokio::test]
async fn a_low_open_file_limit_caps_connections_instead_of_wedging_the_server() {
    let dir = temp_dir("listener");
    // 300 descriptors and no way to raise them (no CAP_SYS_RESOURCE): the cap comes down to fit.
    let wrapper = [
        "prlimit",
        "--nofile=300:300",
        "setpriv",
        "--bounding-set=-sys_resource",
        "--inh-caps=-sys_resource",
    ];
    let server = serve_via(&wrapper, &dir, None, &[], "warn", None, &[]);
    let mut hogs = Vec::new();
    for _ in 0..400 {
        if let Ok(stream) = TcpStream::connect(server.authority()).await {
            hogs.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..5 {
        assert_eq!(get(&server, "/healthz", None).await, StatusCode::OK);
        assert_eq!(
            get(&server, "/readyz", None).await,
            StatusCode::OK,
            "the database still opens"
        );
    }
}

#[tokio::test]
async fn sigterm_with_a_drain_time_keeps_serving_while_readyz_says_go_away() {
    let dir = temp_dir("listener-drain");
    let token = admin_token(&dir);
    let mut server = serve_on(&dir, None, &["--shutdown-drain-secs", "5"], "warn", None);
    assert_eq!(get(&server, "/readyz", None).await, StatusCode::OK);
    let start = Instant::now();
    server.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Still serving, on new connections too, but no longer ready: the balancer takes it out.
    assert_eq!(
        get(&server, "/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get(&server, "/healthz", None).await, StatusCode::OK);
    assert_eq!(
        get(&server, "/api/v2/fleets", Some(&token)).await,
        StatusCode::OK
    );
    let status = tokio::task::spawn_blocking(move || server.wait_exit(Duration::from_secs(12)))
        .await
        .unwrap()
        .expect("the server stops after the drain time");
    assert!(status.success(), "{status:?}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(10),
        "stopped after {took:?} (drain 5 s)"
    );
}
