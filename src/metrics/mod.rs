//! Prometheus metrics (`--metrics-bind`): counted in memory, shown as text at `/metrics` on a
//! listener of their own, never on the main port. Off by default, and then nothing on the
//! request path counts anything.
//!
//! - `connect_tokens_http_requests_total{method, route, status}`: by route template, never by
//!   the path itself (a device UUID in a label would grow the series without end).
//! - `connect_tokens_http_request_duration_seconds{method, route}`: latency histogram.
//! - `connect_tokens_token_authentications_total{outcome}`: every bearer token presented.
//! - `connect_tokens_db_connections{state}`: the database pool, read at each scrape.
//! - `connect_tokens_build_info{version}`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod observe;
pub use observe::Observe;

use crate::store::Store;

/// How a presented bearer token was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum AuthOutcome {
    /// Live and allowed what it asked.
    ok,
    /// Not a token of ours: wrong format or checksum (judged without the database).
    bad_checksum,
    /// Not `Authorization: Bearer <token>` (another scheme, or not text).
    malformed,
    /// Sent in the URL, where tokens are never accepted.
    in_url,
    /// Well formed but not known.
    unknown,
    /// Revoked.
    revoked,
    /// Past its expiry.
    expired,
    /// A user token whose user is disabled.
    user_disabled,
    /// Used from an address outside the token's allowed networks.
    ip_not_allowed,
    /// Live, but the resource is outside its scope or needs a permission it lacks (or, on the
    /// token-management API, it is not an administrator's user token).
    out_of_scope,
}

impl AuthOutcome {
    const ALL: [AuthOutcome; 10] = [
        AuthOutcome::ok,
        AuthOutcome::bad_checksum,
        AuthOutcome::malformed,
        AuthOutcome::in_url,
        AuthOutcome::unknown,
        AuthOutcome::revoked,
        AuthOutcome::expired,
        AuthOutcome::user_disabled,
        AuthOutcome::ip_not_allowed,
        AuthOutcome::out_of_scope,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: AuthOutcome,
}

/// A route template as axum matched it (shared, not copied per request).
#[derive(Debug, Clone)]
pub(super) struct Route(pub(super) Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: Route,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    outcome: &'static str,
}

/// How a webhook delivery attempt ended, as the metrics count it.
pub const WEBHOOK_OUTCOMES: [&str; 4] = ["delivered", "retry", "failed", "paused"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 65 s (past the longest request deadline's default, 60 s).
    Histogram::new(exponential_buckets(0.000_25, 2.0, 19))
}

/// The status recorded for a request whose answer never left (the client went away, or a
/// deadline or the shutdown cut it off): nginx's "client closed request".
const NOT_ANSWERED: u16 = 499;

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// One counter per [`AuthOutcome`], in the order of [`AuthOutcome::ALL`].
    authentications: [Counter; AuthOutcome::ALL.len()],
    connections: Family<StateLabels, Gauge>,
    webhooks: Family<WebhookLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All series registered, every counter at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("connect_tokens");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            latency.clone(),
        );
        let outcomes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "token_authentications",
            "Bearer tokens presented to the API, by outcome",
            outcomes.clone(),
        );
        let authentications = AuthOutcome::ALL
            .map(|outcome| outcomes.get_or_create(&OutcomeLabels { outcome }).clone());
        let connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Database connections of this process's pool, by state",
            connections.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        for outcome in WEBHOOK_OUTCOMES {
            let _ = webhooks.get_or_create(&WebhookLabels { outcome });
        }
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts of this instance, by outcome (delivered; retry: failed, \
             tried again later; failed: given up after 24 hours; paused: its endpoint disabled)",
            webhooks.clone(),
        );
        // A gauge at 1 rather than an OpenMetrics `info`, which the classic text format lacks.
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running build", build);
        Metrics {
            registry,
            requests,
            latency,
            authentications,
            connections,
            webhooks,
        }
    }

    /// Counts one webhook delivery attempt ended with `outcome` (one of [`WEBHOOK_OUTCOMES`]).
    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.webhooks
            .get_or_create(&WebhookLabels { outcome })
            .inc();
    }

    /// Counts one bearer token judged.
    pub fn authentication(&self, outcome: AuthOutcome) {
        let i = AuthOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.authentications[i].inc();
    }

    /// The OpenMetrics text exposition, with the database pool read now.
    pub fn render(&self, store: &Store) -> String {
        let (in_use, idle) = store.pool_use();
        for (state, value) in [("in_use", in_use), ("idle", idle)] {
            self.connections
                .get_or_create(&StateLabels { state })
                .set(i64::from(value));
        }
        let mut text = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    pub(super) fn observe(
        &self,
        method: &'static str,
        route: Route,
        status: u16,
        started: Instant,
    ) {
        let seconds = started.elapsed().as_secs_f64();
        self.latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }
}

/// The metrics listener's one page: OpenMetrics when the scraper asks for it (Prometheus does),
/// else the classic Prometheus text format (curl, `promtool check metrics`).
pub fn router(metrics: Arc<Metrics>, store: Store) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let text = metrics.render(&store);
            let openmetrics = headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/openmetrics-text"));
            async move {
                let (content_type, text) = if openmetrics {
                    (OPENMETRICS, text)
                } else {
                    (CLASSIC, classic_text(&text))
                };
                (
                    [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                    text,
                )
                    .into_response()
            }
        }),
    )
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The classic Prometheus text format of an OpenMetrics exposition: a counter family's
/// `# HELP` and `# TYPE` lines carry its samples' `_total` name, and there is no `# EOF`.
fn classic_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let header = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        match header {
            Some((prefix, rest)) => {
                let name = rest.split(' ').next().unwrap_or_default();
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(&name) {
                    out.push_str("_total");
                }
                out.push_str(&rest[name.len()..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_apart_and_render() {
        let m = Metrics::new();
        m.authentication(AuthOutcome::revoked);
        m.authentication(AuthOutcome::revoked);
        m.authentication(AuthOutcome::ok);
        m.observe("GET", Route(None), 404, Instant::now());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &m.registry).unwrap();
        assert!(
            text.contains("connect_tokens_token_authentications_total{outcome=\"revoked\"} 2"),
            "{text}"
        );
        assert!(text.contains("connect_tokens_token_authentications_total{outcome=\"ok\"} 1"));
        assert!(text.contains("connect_tokens_token_authentications_total{outcome=\"expired\"} 0"));
        assert!(text.contains(
            "connect_tokens_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1"
        ));
        assert!(text.contains("connect_tokens_build_info{version=\""));
        let classic = classic_text(&text);
        assert!(classic.contains("# TYPE connect_tokens_token_authentications_total counter\n"));
        assert!(classic.contains("# HELP connect_tokens_http_requests_total HTTP requests"));
        assert!(classic.contains("# TYPE connect_tokens_build_info gauge\n"));
        assert!(!classic.contains("# EOF"));
        // Samples are left as they are.
        assert!(classic.contains("connect_tokens_token_authentications_total{outcome=\"ok\"} 1\n"));
    }
}
