//! The README's API examples, run as a new user would: `serve --demo`, a token, then every
//! `curl` line of the "Using a token" section, against the demo data. They must all succeed, so
//! the examples cannot drift from the product.

use reqwest::StatusCode;

use crate::cli::{admin_token, serve_on};
use crate::helpers::temp_dir;

/// The `sh` block of the README section `heading`, with `\`-continued lines joined.
fn shell_lines(heading: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split(&format!("\n## {heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("an sh block");
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("curl "))
        .map(str::to_owned)
        .collect()
}

/// Splits a command line into words: spaces separate, single and double quotes group.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

#[tokio::test]
async fn the_readme_api_examples_work_against_the_demo() {
    let lines = shell_lines("Using a token");
    assert!(lines.len() >= 3, "{lines:?}");
    let dir = temp_dir("readme");
    let server = serve_on(&dir, None, &["--demo"], "warn", None);
    let token = admin_token(&dir, &[], "admin", &[]);
    let client = crate::helpers::http_client();
    for line in &lines {
        let args = words(line);
        let mut method = reqwest::Method::GET;
        let mut headers = Vec::new();
        let mut body = None;
        let mut url = None;
        let mut rest = args.iter().skip(1);
        while let Some(a) = rest.next() {
            match a.as_str() {
                "-X" => method = rest.next().unwrap().parse().unwrap(),
                "-H" => headers.push(rest.next().unwrap().replace("$TOKEN", &token)),
                "-d" => body = rest.next().cloned(),
                other if other.starts_with("http") => url = Some(other.to_owned()),
                other => panic!("the test does not know curl's {other} ({line})"),
            }
        }
        let url = url
            .expect("a URL")
            .replace("http://127.0.0.1:8080", &server.base);
        let mut req = client.request(method, &url);
        for h in &headers {
            let (name, value) = h.split_once(':').unwrap();
            req = req.header(name.trim(), value.trim());
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{line}\n→ {status}: {text}");
        assert_ne!(
            status,
            StatusCode::NO_CONTENT,
            "{line}: the examples read something"
        );
    }
}
