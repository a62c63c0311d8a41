//! The layer that counts and times every request of the router it wraps.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use tower::{Layer, Service};

use super::{Metrics, NOT_ANSWERED, Route};

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The layer that counts and times every request of the router it wraps.
#[derive(Debug, Clone)]
pub struct Observe(pub Arc<Metrics>);

impl<S> Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// A service whose requests [`Observe`] counts.
#[derive(Debug, Clone)]
pub struct Observed<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> Service<Request> for Observed<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
{
    type Response = axum::http::Response<B>;
    type Error = Infallible;
    type Future = Timed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let method = method_label(req.method());
        let route = Route(req.extensions().get::<MatchedPath>().cloned());
        Timed {
            inner: self.inner.call(req),
            metrics: self.metrics.clone(),
            method,
            route: Some(route),
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A response on its way, timed from the request; counted when it is answered, or with
    /// [`NOT_ANSWERED`] when dropped before that.
    pub struct Timed<F> {
        #[pin]
        inner: F,
        metrics: Arc<Metrics>,
        method: &'static str,
        route: Option<Route>,
        started: Instant,
    }

    impl<F> PinnedDrop for Timed<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(route) = this.route.take() {
                this.metrics.observe(this.method, route, NOT_ANSWERED, *this.started);
            }
        }
    }
}

impl<F, B> Future for Timed<F>
where
    F: Future<Output = Result<axum::http::Response<B>, Infallible>>,
{
    type Output = Result<axum::http::Response<B>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answered = ready!(this.inner.poll(cx));
        if let (Ok(response), Some(route)) = (&answered, this.route.take()) {
            this.metrics.observe(
                this.method,
                route,
                response.status().as_u16(),
                *this.started,
            );
        }
        Poll::Ready(answered)
    }
}
