//! The served OpenAPI document is the truth: real responses of every endpoint, success and
//! error, are validated against it, and every documented operation is served.

use std::collections::BTreeSet;

use connect_tokens::domain::scope::{Permissions, Role, Target};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Resp, call, make_token, spawn_app};

/// Validates `v` against `schema` (the subset of JSON Schema the document uses).
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return validate(doc, &doc["components"]["schemas"][name], v, at);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(doc, s, v, at)?;
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let ok = one
            .iter()
            .filter(|s| validate(doc, s, v, at).is_ok())
            .count();
        if ok != 1 {
            return Err(format!("{at}: matches {ok} of oneOf"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        if !types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"))
        {
            return Err(format!("{at}: {actual} is not {types:?}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} not in {e:?}"));
    }
    match (schema.get("format").and_then(Value::as_str), v.as_str()) {
        (Some("date-time"), Some(s)) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("{at}: {s}: {e}"))?;
        }
        (Some("date"), Some(s)) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, &format).map_err(|e| format!("{at}: {s}: {e}"))?;
        }
        _ => {}
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_i64)
        && v.as_i64().is_some_and(|n| n < min)
    {
        return Err(format!("{at}: {v} is below {min}"));
    }
    if let Value::Object(map) = v {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !map.contains_key(req.as_str().unwrap()) {
                return Err(format!("{at}: missing {req}"));
            }
        }
        for (k, val) in map {
            match (
                props.and_then(|p| p.get(k)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => validate(doc, s, val, &format!("{at}.{k}"))?,
                (None, Some(Value::Bool(false))) => {
                    return Err(format!("{at}: undocumented property {k}"));
                }
                (None, Some(s @ Value::Object(_))) => validate(doc, s, val, &format!("{at}.{k}"))?,
                (None, _) => {}
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            return Err(format!("{at}: fewer than {min} items"));
        }
        for (i, item) in items.iter().enumerate() {
            validate(doc, s, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Checks one real response against the documented (path, method, status).
fn check(
    doc: &Value,
    seen: &mut BTreeSet<(String, String, u16)>,
    template: &str,
    method: &Method,
    r: &Resp,
) {
    let op = &doc["paths"][template][method.as_str().to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    let mut documented = &op["responses"][r.status.as_str()];
    // A shared response (`#/components/responses/…`).
    if let Some(reference) = documented.get("$ref").and_then(Value::as_str) {
        let pointer = reference.trim_start_matches('#');
        documented = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling {reference}"));
    }
    assert!(
        documented.is_object(),
        "{method} {template} answered {} which is not documented: {}",
        r.status,
        r.body
    );
    if let Some(schema) = documented.pointer("/content/application~1json/schema") {
        assert!(
            r.header("content-type").starts_with("application/json"),
            "{method} {template} {}",
            r.status
        );
        let body: Value = serde_json::from_str(&r.body).unwrap();
        if let Err(e) = validate(doc, schema, &body, "$") {
            panic!("{method} {template} {}: {e}\n{}", r.status, r.body);
        }
    } else {
        assert!(
            r.body.is_empty(),
            "{method} {template} {} has an undocumented body",
            r.status
        );
    }
    seen.insert((
        template.to_owned(),
        method.as_str().to_lowercase(),
        r.status.as_u16(),
    ));
}

#[tokio::test]
async fn real_responses_of_every_endpoint_match_the_served_openapi_document() {
    let app = spawn_app().await;
    let (alpha, _) = app.seed_fleets().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v2/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    app.create_user("boss", Role::Admin).await;
    let admin = make_token(
        &app,
        None,
        Permissions::NONE,
        Some("boss"),
        connect_tokens::domain::now() + 86_400,
    )
    .await;
    let reader = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::from_bits(1),
        None,
        connect_tokens::domain::now() + 86_400,
    )
    .await;
    let writer = make_token(
        &app,
        Some(Target::Fleet("alpha".into())),
        Permissions::from_bits(2),
        None,
        connect_tokens::domain::now() + 86_400,
    )
    .await;
    let expires = connect_tokens::domain::expiry::format_date(
        time::OffsetDateTime::now_utc().date() + time::Duration::days(9),
    );
    let mut seen = BTreeSet::new();
    let dev_t = "/api/v2/{fleet}/devices/{device_uuid}";
    let dev = format!("/api/v2/alpha/devices/{}", alpha[0]);
    let id_t = "/access/api/v1/tokens/{id}";

    let cases: Vec<(&str, Method, String, &str, Option<Value>)> = vec![
        (
            "/api/v2/fleets",
            Method::GET,
            "/api/v2/fleets".into(),
            &admin,
            None,
        ),
        (
            "/api/v2/fleets",
            Method::GET,
            "/api/v2/fleets".into(),
            &reader,
            None,
        ),
        (
            "/api/v2/fleets",
            Method::GET,
            "/api/v2/fleets".into(),
            "nope",
            None,
        ),
        (
            "/api/v2/{fleet}/devices",
            Method::GET,
            "/api/v2/alpha/devices?limit=2".into(),
            &reader,
            None,
        ),
        (
            "/api/v2/{fleet}/devices",
            Method::GET,
            "/api/v2/alpha/devices?limit=0".into(),
            &reader,
            None,
        ),
        (
            "/api/v2/{fleet}/devices",
            Method::GET,
            "/api/v2/bravo/devices".into(),
            &reader,
            None,
        ),
        (
            "/api/v2/{fleet}/devices",
            Method::GET,
            "/api/v2/alpha/devices".into(),
            "nope",
            None,
        ),
        (
            "/api/v2/{fleet}/devices",
            Method::GET,
            "/api/v2/alpha/devices".into(),
            &writer,
            None,
        ),
        (dev_t, Method::GET, dev.clone(), &reader, None),
        (dev_t, Method::GET, dev.clone(), &writer, None),
        (dev_t, Method::GET, dev.clone(), "nope", None),
        (
            dev_t,
            Method::PATCH,
            "/api/v2/alpha/devices/d-ffff-ffff".into(),
            &admin,
            Some(json!({"name": "x"})),
        ),
        (
            dev_t,
            Method::GET,
            "/api/v2/alpha/devices/d-ffff-ffff".into(),
            &reader,
            None,
        ),
        (
            dev_t,
            Method::PATCH,
            dev.clone(),
            &reader,
            Some(json!({"name": "x"})),
        ),
        (
            dev_t,
            Method::PATCH,
            dev.clone(),
            &admin,
            Some(json!({"name": "renamed", "tags": ["Edge", "lab"], "group": "g"})),
        ),
        (
            dev_t,
            Method::PATCH,
            dev.clone(),
            &admin,
            Some(json!({"bogus": 1})),
        ),
        (
            dev_t,
            Method::PATCH,
            dev.clone(),
            &admin,
            Some(json!({"name": ""})),
        ),
        (
            dev_t,
            Method::PATCH,
            dev.clone(),
            "nope",
            Some(json!({"name": "x"})),
        ),
        (dev_t, Method::DELETE, dev.clone(), &reader, None),
        (
            dev_t,
            Method::DELETE,
            format!("/api/v2/alpha/devices/{}", alpha[2]),
            &admin,
            None,
        ),
        (
            dev_t,
            Method::DELETE,
            "/api/v2/alpha/devices/d-ffff-ffff".into(),
            &admin,
            None,
        ),
        (dev_t, Method::DELETE, dev.clone(), "nope", None),
        (
            "/access/api/v1/tokens",
            Method::POST,
            "/access/api/v1/tokens".into(),
            &admin,
            Some(
                json!({"type": "device_details", "description": "doc", "expires_at": expires, "target": {"fleet": "alpha"}, "permissions": ["read"]}),
            ),
        ),
        (
            "/access/api/v1/tokens",
            Method::POST,
            "/access/api/v1/tokens".into(),
            &admin,
            Some(
                json!({"type": "user", "description": "doc", "expires_at": expires, "username": "boss"}),
            ),
        ),
        (
            "/access/api/v1/tokens",
            Method::POST,
            "/access/api/v1/tokens".into(),
            &admin,
            Some(json!({"type": "user"})),
        ),
        (
            "/access/api/v1/tokens",
            Method::POST,
            "/access/api/v1/tokens".into(),
            &admin,
            Some(
                json!({"type": "user", "description": "d", "expires_at": "2001-01-01", "username": "boss"}),
            ),
        ),
        (
            "/access/api/v1/tokens",
            Method::POST,
            "/access/api/v1/tokens".into(),
            &reader,
            Some(
                json!({"type": "user", "description": "d", "expires_at": expires, "username": "boss"}),
            ),
        ),
        (
            "/access/api/v1/tokens",
            Method::POST,
            "/access/api/v1/tokens".into(),
            "nope",
            Some(json!({})),
        ),
        (
            "/access/api/v1/tokens",
            Method::GET,
            "/access/api/v1/tokens".into(),
            &admin,
            None,
        ),
        (
            "/access/api/v1/tokens",
            Method::GET,
            "/access/api/v1/tokens?status=bogus".into(),
            &admin,
            None,
        ),
        (
            "/access/api/v1/tokens",
            Method::GET,
            "/access/api/v1/tokens".into(),
            &reader,
            None,
        ),
        (
            "/access/api/v1/tokens",
            Method::GET,
            "/access/api/v1/tokens".into(),
            "nope",
            None,
        ),
        (
            "/access/api/v1/tokens/revoke",
            Method::POST,
            "/access/api/v1/tokens/revoke".into(),
            &admin,
            Some(json!({"token": "ctd_whatever"})),
        ),
        (
            "/access/api/v1/tokens/revoke",
            Method::POST,
            "/access/api/v1/tokens/revoke".into(),
            &admin,
            Some(json!({"value": 1})),
        ),
        (
            "/access/api/v1/tokens/revoke",
            Method::POST,
            "/access/api/v1/tokens/revoke".into(),
            &reader,
            Some(json!({"token": "x"})),
        ),
        (
            "/access/api/v1/tokens/revoke",
            Method::POST,
            "/access/api/v1/tokens/revoke".into(),
            "nope",
            Some(json!({"token": "x"})),
        ),
    ];
    for (template, method, path, tok, body) in cases {
        let r = call(&app, method.clone(), &path, tok, body).await;
        check(&doc, &mut seen, template, &method, &r);
    }
    // Operations on a Token ID.
    let listed = call(&app, Method::GET, "/access/api/v1/tokens", &admin, None)
        .await
        .json();
    let id = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["description"] == "doc" && t["type"] == "user")
        .unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path, tok) in [
        (
            Method::GET,
            format!("/access/api/v1/tokens/{id}"),
            admin.as_str(),
        ),
        (
            Method::GET,
            "/access/api/v1/tokens/00000000-0000-4000-8000-000000000000".to_owned(),
            &admin,
        ),
        (Method::GET, format!("/access/api/v1/tokens/{id}"), &reader),
        (Method::GET, format!("/access/api/v1/tokens/{id}"), "nope"),
        (
            Method::DELETE,
            format!("/access/api/v1/tokens/{id}"),
            &reader,
        ),
        (
            Method::DELETE,
            format!("/access/api/v1/tokens/{id}"),
            &admin,
        ),
        (
            Method::DELETE,
            "/access/api/v1/tokens/not-a-uuid".to_owned(),
            &admin,
        ),
        (
            Method::DELETE,
            format!("/access/api/v1/tokens/{id}"),
            "nope",
        ),
    ] {
        let r = call(&app, method.clone(), &path, tok, None).await;
        check(&doc, &mut seen, id_t, &method, &r);
    }
    usage(&app, &doc, &mut seen, &admin, &reader).await;
    // Not JSON.
    for (template, method, path) in [
        (dev_t, Method::PATCH, dev.clone()),
        (
            "/access/api/v1/tokens",
            Method::POST,
            "/access/api/v1/tokens".to_owned(),
        ),
        (
            "/access/api/v1/tokens/revoke",
            Method::POST,
            "/access/api/v1/tokens/revoke".to_owned(),
        ),
    ] {
        let res = app
            .client
            .request(method.clone(), app.url(&path))
            .header("authorization", format!("Bearer {admin}"))
            .body("x")
            .send()
            .await
            .unwrap();
        let r = Resp {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        };
        check(&doc, &mut seen, template, &method, &r);
    }

    lifecycle(&app, &doc, &mut seen, &admin, &reader, &expires).await;

    // Malformed text in a query or path (the listener's refusal, before any route): a 400 in
    // the API's error shape on every operation.
    for (path, ops) in doc["paths"].as_object().unwrap().clone() {
        let concrete = path
            .replace("{fleet}", "alpha")
            .replace("{device_uuid}", &alpha[1])
            .replace("{id}", &id);
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = call(
                &app,
                m.clone(),
                &format!("{concrete}?probe=%00"),
                &admin,
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{m} {path}: {}", r.body);
            check(&doc, &mut seen, &path, &m, &r);
        }
    }

    // Every documented operation and response code was exercised. (503 needs the database gone:
    // tests/it/scale.rs cuts PostgreSQL off and checks that answer.)
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for status in op["responses"].as_object().unwrap().keys() {
                documented.insert((path.clone(), method.clone(), status.parse::<u16>().unwrap()));
            }
        }
    }
    let missing: Vec<_> = documented
        .difference(&seen)
        .filter(|(_, _, status)| *status != 503)
        .collect();
    assert!(missing.is_empty(), "documented but never seen: {missing:?}");

    // Methods that are not documented on a documented path are not served.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{fleet}", "alpha")
            .replace("{device_uuid}", &alpha[1])
            .replace("{id}", &id);
        for m in [
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::PUT,
        ] {
            if ops.get(m.as_str().to_lowercase()).is_none() {
                let r = call(&app, m.clone(), &concrete, &admin, Some(json!({}))).await;
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{m} {path} is served but not documented"
                );
            }
        }
    }
}

/// The usage of a token: every documented answer, with counts that have reasons to show.
async fn usage(
    app: &crate::helpers::TestApp,
    doc: &Value,
    seen: &mut BTreeSet<(String, String, u16)>,
    admin: &str,
    reader: &str,
) {
    let template = "/access/api/v1/tokens/{id}/usage";
    let reader_id = app.token_id_of(reader).await;
    let path = format!("/access/api/v1/tokens/{reader_id}/usage");
    // A refusal and an allowed use, written before the reads below.
    call(
        app,
        Method::GET,
        "/api/v2/no-such-fleet/devices",
        reader,
        None,
    )
    .await;
    call(app, Method::GET, "/api/v2/fleets", reader, None).await;
    app.flush_usage().await;
    for (path, tok, status) in [
        (format!("{path}?days=7"), admin, 200),
        (path.clone(), admin, 200),
        (format!("{path}?days=0"), admin, 400),
        (format!("{path}?days=401"), admin, 400),
        (format!("{path}?since=1"), admin, 400),
        (path.clone(), "nope", 401),
        (path.clone(), reader, 403),
        (
            "/access/api/v1/tokens/00000000-0000-4000-8000-000000000000/usage".into(),
            admin,
            404,
        ),
    ] {
        let r = call(app, Method::GET, &path, tok, None).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.body);
        check(doc, seen, template, &Method::GET, &r);
    }
    let r = call(app, Method::GET, &format!("{path}?days=7"), admin, None).await;
    let days = r.json()["days"].as_array().unwrap().clone();
    assert_eq!(days.len(), 7);
    let today = &days[6];
    assert!(today["allowed"].as_i64().unwrap() >= 1, "{today}");
    assert!(today["refused"].as_i64().unwrap() >= 1, "{today}");
}

/// A raw request with a body that is not JSON (415).
async fn not_json(app: &crate::helpers::TestApp, path: &str, token: &str) -> Resp {
    let res = app
        .client
        .post(app.url(path))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    Resp {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

/// Introspection and both rotate endpoints, every documented answer.
async fn lifecycle(
    app: &crate::helpers::TestApp,
    doc: &Value,
    seen: &mut BTreeSet<(String, String, u16)>,
    admin: &str,
    reader: &str,
    expires: &str,
) {
    let create = |ips: Value| {
        json!({"type": "device_details", "description": "life", "expires_at": expires,
               "target": {"fleet": "alpha"}, "permissions": ["read"], "allowed_ips": ips})
    };
    let made = call(
        app,
        Method::POST,
        "/access/api/v1/tokens",
        admin,
        Some(create(json!([]))),
    )
    .await;
    check(doc, seen, "/access/api/v1/tokens", &Method::POST, &made);
    let (own, own_id) = {
        let v: Value = serde_json::from_str(&made.body).unwrap();
        (
            v["token"].as_str().unwrap().to_owned(),
            v["token_id"].as_str().unwrap().to_owned(),
        )
    };
    let fenced = call(
        app,
        Method::POST,
        "/access/api/v1/tokens",
        admin,
        Some(create(json!(["203.0.113.0/24", "2001:db8::/32"]))),
    )
    .await;
    check(doc, seen, "/access/api/v1/tokens", &Method::POST, &fenced);
    let fenced: String = serde_json::from_str::<Value>(&fenced.body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let this = "/access/api/v1/tokens/self";
    for tok in [reader, "nope", fenced.as_str()] {
        let r = call(app, Method::GET, this, tok, None).await;
        check(doc, seen, this, &Method::GET, &r);
    }
    let rotate_self = "/access/api/v1/tokens/self/rotate";
    for (tok, body) in [
        (own.as_str(), Some(json!({"grace_seconds": 3600}))),
        (own.as_str(), None),
        (reader, Some(json!({"grace_seconds": 86_401}))),
        ("nope", None),
        (fenced.as_str(), None),
    ] {
        let r = call(app, Method::POST, rotate_self, tok, body).await;
        check(doc, seen, rotate_self, &Method::POST, &r);
    }
    check(
        doc,
        seen,
        rotate_self,
        &Method::POST,
        &not_json(app, rotate_self, reader).await,
    );
    let rotate_t = "/access/api/v1/tokens/{id}/rotate";
    let revoked = call(
        app,
        Method::POST,
        "/access/api/v1/tokens",
        admin,
        Some(create(json!([]))),
    )
    .await;
    let revoked_id = serde_json::from_str::<Value>(&revoked.body).unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(
        app,
        Method::DELETE,
        &format!("/access/api/v1/tokens/{revoked_id}"),
        admin,
        None,
    )
    .await;
    let successor = seen_successor(app, admin, &own_id).await;
    for (path, tok, body) in [
        (
            successor.clone(),
            admin,
            Some(json!({"expires_at": expires})),
        ),
        (
            successor.clone(),
            admin,
            Some(json!({"expires_at": "2000-01-01"})),
        ),
        (revoked_id.clone(), admin, None),
        (
            "00000000-0000-4000-8000-000000000000".to_owned(),
            admin,
            None,
        ),
        (successor.clone(), reader, None),
        (successor.clone(), "nope", None),
    ] {
        let r = call(
            app,
            Method::POST,
            &format!("/access/api/v1/tokens/{path}/rotate"),
            tok,
            body,
        )
        .await;
        check(doc, seen, rotate_t, &Method::POST, &r);
    }
    let r = not_json(
        app,
        &format!("/access/api/v1/tokens/{successor}/rotate"),
        admin,
    )
    .await;
    check(doc, seen, rotate_t, &Method::POST, &r);
}

/// The successor of `id`, as the API shows it.
async fn seen_successor(app: &crate::helpers::TestApp, admin: &str, id: &str) -> String {
    let r = call(
        app,
        Method::GET,
        &format!("/access/api/v1/tokens/{id}"),
        admin,
        None,
    )
    .await;
    serde_json::from_str::<Value>(&r.body).unwrap()["successor_id"]
        .as_str()
        .expect("rotated")
        .to_owned()
}
