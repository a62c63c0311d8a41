//! JSON shapes shared by the API handlers, and the JSON body extractor.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use crate::domain::text::{self, TextError};
use crate::error::AppError;

use crate::domain::scope::Target;
use crate::store::devices::Device;
use crate::store::tokens::TokenRecord;

/// RFC 3339 UTC time of unix seconds (`2023-11-14T22:13:20Z`); empty outside years 0–9999.
pub fn rfc3339(ts: i64) -> String {
    let mut buf = [0u8; 20];
    let len = rfc3339_into(ts, &mut buf);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Writes [`rfc3339`] of `ts` into `buf` by hand (no formatter machinery: this runs for every
/// device of every API answer); returns the length, 0 when the year has no RFC 3339 form.
fn rfc3339_into(ts: i64, buf: &mut [u8; 20]) -> usize {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(ts) else {
        return 0;
    };
    let Ok(year) = u16::try_from(t.year()) else {
        return 0;
    };
    if year > 9999 {
        return 0;
    }
    let two = |n: u8| [b'0' + n / 10, b'0' + n % 10];
    let [y1, y2] = [(year / 100) as u8, (year % 100) as u8];
    let parts: [[u8; 2]; 7] = [
        two(y1),
        two(y2),
        two(u8::from(t.month())),
        two(t.day()),
        two(t.hour()),
        two(t.minute()),
        two(t.second()),
    ];
    let [c, y, mo, d, h, mi, s] = parts;
    *buf = [
        c[0], c[1], y[0], y[1], b'-', mo[0], mo[1], b'-', d[0], d[1], b'T', h[0], h[1], b':',
        mi[0], mi[1], b':', s[0], s[1], b'Z',
    ];
    buf.len()
}

/// A time in RFC 3339 UTC, serialised without an intermediate string.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339Time(pub i64);

impl Serialize for Rfc3339Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 20];
        let len = rfc3339_into(self.0, &mut buf);
        serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default())
    }
}

/// A device as the API shows it, serialised straight from the stored row.
#[derive(Debug)]
pub struct DeviceJson(pub Device);

impl From<Device> for DeviceJson {
    fn from(d: Device) -> Self {
        DeviceJson(d)
    }
}

/// The stored `;a;b;` tags as a JSON list.
struct Tags<'a>(&'a Device);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.tags())
    }
}

impl Serialize for DeviceJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let d = &self.0;
        let mut s = serializer.serialize_struct("Device", 10)?;
        s.serialize_field("uuid", &d.uuid)?;
        s.serialize_field("fleet", &d.fleet_key)?;
        s.serialize_field("name", &d.name)?;
        s.serialize_field("group_name", &d.group_name)?;
        s.serialize_field("tags", &Tags(d))?;
        s.serialize_field("description", &d.description)?;
        s.serialize_field("ip", &d.ip)?;
        s.serialize_field("agent_version", &d.agent_version)?;
        s.serialize_field("last_keepalive", &d.last_keepalive.map(Rfc3339Time))?;
        s.serialize_field("registered", &Rfc3339Time(d.registered_at))?;
        s.end()
    }
}

/// One page of the device list.
#[derive(Debug, Serialize)]
pub struct DevicePage {
    /// The devices of this page.
    pub devices: Vec<DeviceJson>,
    /// Cursor of the next page (`after`), if there is one.
    pub next: Option<String>,
}

/// A token's metadata as the API shows it (never its secret or hash).
#[derive(Debug, Serialize)]
pub struct TokenJson {
    token_id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    description: String,
    hint: String,
    username: Option<String>,
    target: Option<serde_json::Value>,
    permissions: Vec<&'static str>,
    created_at: String,
    created_by: Option<String>,
    expires_at: String,
    revoked_at: Option<String>,
    last_used_at: Option<String>,
    last_used_ip: Option<String>,
    last_used_agent: Option<String>,
    allowed_ips: Vec<String>,
    predecessor_id: Option<String>,
    successor_id: Option<String>,
    status: &'static str,
}

impl TokenJson {
    /// JSON of `t` with its status at `now`.
    pub fn new(t: &TokenRecord, now: i64) -> Self {
        TokenJson {
            token_id: t.id.clone(),
            kind: t.kind.as_str(),
            description: t.description.clone(),
            hint: t.hint.clone(),
            username: t.user.as_ref().map(|(_, name)| name.clone()),
            target: t.target.as_ref().map(|target| match target {
                Target::Fleet(f) => serde_json::json!({ "fleet": f }),
                Target::Device(d) => serde_json::json!({ "device": d }),
            }),
            permissions: t.permissions.names(),
            created_at: rfc3339(t.created_at),
            created_by: t.created_by.clone(),
            expires_at: rfc3339(t.expires_at),
            revoked_at: t.revoked_at.map(rfc3339),
            last_used_at: t.last_used_at.map(rfc3339),
            last_used_ip: t.last_used_ip.clone(),
            last_used_agent: t.last_used_agent.clone(),
            allowed_ips: t.allowed_ips.texts(),
            predecessor_id: t.predecessor_id.clone(),
            successor_id: t.successor_id.clone(),
            status: t.status(now).as_str(),
        }
    }
}

/// A JSON body whose rejections (wrong content type, bad syntax, unknown fields, wrong types)
/// become the API's own 400/415 errors.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !json {
            return Err(AppError::UnsupportedMediaType(
                "Expected request with `Content-Type: application/json`".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(e.body_text()),
                _ => AppError::BadRequest(e.body_text()),
            })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            AppError::BadRequest(format!("Failed to parse the request body as JSON: {e}"))
        })?;
        check_body(&value).map_err(AppError::BadRequest)?;
        // Every body of this API is an object (serde would also take a struct from an array).
        if !value.is_object() {
            return Err(AppError::BadRequest(
                "The request body must be a JSON object.".into(),
            ));
        }
        // Parsed again into the type (not from the value), so that a repeated key is refused
        // rather than the last one silently winning.
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|e| {
            AppError::BadRequest(format!(
                "Failed to deserialize the JSON body into the target type: {e}"
            ))
        })
    }
}

/// Whether a `Content-Type` is JSON (`application/json` or `application/…+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// One step of a path into a JSON value.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// What is wrong at a place in a JSON body.
enum Problem {
    Text(TextError),
    Null,
}

/// The first problem in `value`, with the steps to it (innermost first). Nothing is allocated
/// unless there is a problem: a hostile body's size costs one walk.
fn first_problem(value: &serde_json::Value) -> Option<(Vec<Step<'_>>, Problem)> {
    match value {
        serde_json::Value::String(s) => text::check_input(s)
            .err()
            .map(|e| (Vec::new(), Problem::Text(e))),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            first_problem(v).map(|(mut steps, problem)| {
                steps.push(Step::Index(i));
                (steps, problem)
            })
        }),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let found = match text::check_input(k) {
                Err(e) => Some((Vec::new(), Problem::Text(e))),
                Ok(()) if v.is_null() => Some((Vec::new(), Problem::Null)),
                Ok(()) => first_problem(v),
            };
            found.map(|(mut steps, problem)| {
                steps.push(Step::Key(k));
                (steps, problem)
            })
        }),
        _ => None,
    }
}

/// Checks every string and key of a JSON body against [`text::check_input`] and refuses null
/// members (the API has no null values: a field is given or left out); the message names the
/// place (`name`, `tags[2]`, `target.fleet`).
pub fn check_body(value: &serde_json::Value) -> Result<(), String> {
    let Some((steps, problem)) = first_problem(value) else {
        return Ok(());
    };
    let mut at = String::new();
    for step in steps.iter().rev() {
        match step {
            Step::Key(k) if at.is_empty() => at.push_str(&k.escape_debug().to_string()),
            Step::Key(k) => {
                at.push('.');
                at.push_str(&k.escape_debug().to_string());
            }
            Step::Index(i) => at.push_str(&format!("[{i}]")),
        }
    }
    Err(match problem {
        Problem::Text(e) => format!("`{at}` {e}."),
        Problem::Null => format!("`{at}` is null: leave a field out rather than send null."),
    })
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn the_first_problem_is_named_by_its_place() {
        let at = |v: serde_json::Value| check_body(&v).unwrap_err();
        assert!(check_body(&serde_json::json!({"name": "two\nlines", "tags": ["a"]})).is_ok());
        assert!(
            at(serde_json::json!({"tags": ["ok", "x\u{0}"]})).starts_with("`tags[1]` contains")
        );
        assert!(at(serde_json::json!({"a": [1, {"b": null}]})).starts_with("`a[1].b` is null"));
        assert!(
            at(serde_json::json!({"target": {"fleet": "\u{1b}"}})).starts_with("`target.fleet`")
        );
        assert!(at(serde_json::json!({"k\u{7}": 1})).contains("control"));
        // A wide array of numbers costs one walk and no allocation per element.
        let wide = serde_json::Value::Array(vec![serde_json::json!(0); 100_000]);
        assert!(check_body(&serde_json::json!({ "x".repeat(30_000): wide })).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;

    use super::*;

    #[test]
    fn times_serialise_as_rfc3339_strings() {
        // The `time` crate's own RFC 3339 formatter is the reference.
        let reference = |ts: i64| {
            OffsetDateTime::from_unix_timestamp(ts)
                .ok()
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default()
        };
        let mut samples = vec![
            0,
            1,
            59,
            86_399,
            951_782_400,
            1_700_000_000,
            253_402_300_799,
        ];
        samples.extend([
            -1,
            -62_167_219_200,
            -62_167_219_201,
            253_402_300_800,
            i64::MIN,
        ]);
        samples.extend((0..2000).map(|i| i * 126_491_111 - 62_000_000_000));
        for ts in samples {
            assert_eq!(rfc3339(ts), reference(ts), "{ts}");
            assert_eq!(
                serde_json::to_string(&Rfc3339Time(ts)).unwrap(),
                format!("\"{}\"", reference(ts)),
                "{ts}"
            );
        }
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(253_402_300_800), "");
    }

    #[test]
    fn devices_serialise_with_tag_lists_and_times() {
        let d = Device {
            uuid: "d-0000-0001".into(),
            fleet_key: "north".into(),
            name: "Pump \"7\"".into(),
            group_name: String::new(),
            tags: ";edge;lab;".into(),
            description: String::new(),
            ip: "10.0.0.7".into(),
            agent_version: "4.2".into(),
            last_keepalive: None,
            registered_at: 1_700_000_000,
        };
        assert_eq!(
            serde_json::to_value(DeviceJson(d)).unwrap(),
            serde_json::json!({
                "uuid": "d-0000-0001", "fleet": "north", "name": "Pump \"7\"",
                "group_name": "", "tags": ["edge", "lab"], "description": "",
                "ip": "10.0.0.7", "agent_version": "4.2", "last_keepalive": null,
                "registered": "2023-11-14T22:13:20Z"
            })
        );
    }
}
