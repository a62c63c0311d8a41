//! Streamed CSV downloads (PRODUCT.md §14): the header row, then one page of rows at a time as
//! the client reads them — a page is read from the database only when the previous one has been
//! sent, so a million rows never sit in memory. Every cell goes through
//! [`safe_cell`](crate::domain::export::safe_cell); quoting is the `csv` crate's. A database
//! error mid-way ends the body without its last chunk: the client sees a failed download, never
//! a short file that looks whole.

use std::future::Future;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::export::safe_cell;
use crate::error::AppResult;

/// Rows read from the database at a time.
pub const PAGE: i64 = 1000;

/// One page of rows (each its cells), and the state that reads the next.
pub type Page<S> = Option<(Vec<Vec<String>>, S)>;

/// CSV text of `rows`.
pub fn encode<R: AsRef<[String]>>(rows: &[R]) -> Bytes {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        // Writing to memory cannot fail.
        let _ = w.write_record(row.as_ref().iter().map(|c| safe_cell(c).into_owned()));
    }
    Bytes::from(w.into_inner().unwrap_or_default())
}

/// A `text/csv` attachment named `{name}-{date}.csv`: `header`, then the rows of each page
/// `next` reads from `state` until it gives `None`. The first page is read before answering, so
/// a database that cannot be reached gets its 503 (with `Retry-After`), not a broken download.
pub async fn download<S, F, Fut>(
    name: &str,
    header: &[&str],
    state: S,
    mut next: F,
) -> AppResult<Response>
where
    S: Send + 'static,
    F: FnMut(S) -> Fut + Send + 'static,
    Fut: Future<Output = AppResult<Page<S>>> + Send + 'static,
{
    let head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut opening = encode(&[head]).to_vec();
    let rest = match next(state).await? {
        Some((rows, state)) => {
            opening.extend_from_slice(&encode(&rows));
            Some(state)
        }
        None => None,
    };
    let pages = futures_util::stream::unfold((rest, next), |(state, mut next)| async move {
        let state = state?;
        match next(state).await {
            Ok(Some((rows, state))) => Some((Ok(encode(&rows)), (Some(state), next))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "a CSV export stopped part way");
                Some((
                    Err(std::io::Error::other("the export stopped")),
                    (None, next),
                ))
            }
        }
    });
    let opening = Bytes::from(opening);
    let body = futures_util::stream::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(opening) }),
        pages,
    );
    let today = crate::domain::usage::date_of(crate::domain::usage::day_of(crate::domain::now()));
    let disposition = format!("attachment; filename=\"{name}-{today}.csv\"");
    let mut response = (StatusCode::OK, Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let rows = vec![vec![
            "plain".to_owned(),
            "a,b".to_owned(),
            "say \"hi\"".to_owned(),
            "two\nlines".to_owned(),
            "=1+1".to_owned(),
            "-cmd|' /C calc'!A0".to_owned(),
        ]];
        let text = String::from_utf8(encode(&rows).to_vec()).unwrap();
        assert_eq!(
            text,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",'=1+1,'-cmd|' /C calc'!A0\r\n"
        );
    }

    /// Pages `r0`, `r1`, … up to `pages`, then the end, or an error after `fail_after` pages.
    fn pages(
        pages: u32,
        fail_after: Option<u32>,
    ) -> impl FnMut(u32) -> std::future::Ready<AppResult<Page<u32>>> + Send + 'static {
        move |n| {
            std::future::ready(if fail_after == Some(n) {
                Err(crate::error::AppError::BadRequest(
                    "the database went away".into(),
                ))
            } else if n < pages {
                Ok(Some((vec![vec![format!("r{n}")]], n + 1)))
            } else {
                Ok(None)
            })
        }
    }

    #[tokio::test]
    async fn the_first_page_is_read_before_answering_and_a_later_failure_breaks_the_body() {
        assert!(
            download("x", &["h"], 0, pages(3, Some(0))).await.is_err(),
            "no answer started: the error is the answer"
        );
        let whole = download("x", &["h"], 0, pages(3, None)).await.unwrap();
        assert_eq!(whole.headers()["content-type"], "text/csv; charset=utf-8");
        let body = axum::body::to_bytes(whole.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"h\r\nr0\r\nr1\r\nr2\r\n");
        let broken = download("x", &["h"], 0, pages(3, Some(2))).await.unwrap();
        assert!(
            axum::body::to_bytes(broken.into_body(), usize::MAX)
                .await
                .is_err(),
            "a short file never looks whole"
        );
    }
}
