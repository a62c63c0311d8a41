//! The pictures of PRODUCT.md §14 as pages show them: each chart's SVG ([`super::chart`]), its
//! text alternative, and its numbers as a table (`templates/_macros.html` `chart`).

use super::chart::{self, Bar, Column, Series};
use crate::domain::usage::{self, DayUses};
use crate::error::AppResult;
use crate::state::AppState;
use crate::store::insight::{BUSY_DAYS, Busy};

/// Days the request charts cover.
pub const CHART_DAYS: i64 = 30;
/// Weeks the expiry chart covers.
const WEEKS: i64 = 12;
/// Tokens the busiest chart names.
const BUSIEST: i64 = 5;

const ALLOWED: Series = Series {
    name: "Allowed",
    class: "allowed",
};
const REFUSED: Series = Series {
    name: "Refused",
    class: "refused",
};

/// A chart with its table.
pub struct ChartView {
    /// Element id prefix (unique on the page).
    pub id: &'static str,
    pub title: String,
    /// The text alternative, also shown under the title.
    pub summary: String,
    /// The `<svg>` markup (all text escaped by [`chart`]).
    pub svg: String,
    /// The table's column heads and rows.
    pub head: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// `MM-DD` of a day number.
fn short_date(day: i64) -> String {
    usage::date_of(day).get(5..).unwrap_or_default().to_owned()
}

/// Requests per day, allowed and refused, over `days` (oldest first); `whose` ends the title
/// ("API requests per day" + ", all tokens"); `width` as [`chart::columns`] takes it.
pub fn requests(id: &'static str, whose: &str, days: &[DayUses], width: f64) -> ChartView {
    let allowed: i64 = days.iter().map(|d| d.allowed).sum();
    let refused: i64 = days.iter().map(|d| d.refused).sum();
    let busiest = days
        .iter()
        .filter(|d| d.total() > 0)
        .max_by_key(|d| (d.total(), d.day));
    let title = format!("API requests per day, last {} days{whose}", days.len());
    let summary = match busiest {
        None => format!("No requests in the last {} days.", days.len()),
        Some(b) => format!(
            "{} requests allowed and {} refused in the last {} days; the busiest day was {} with {}.",
            chart::thousands(allowed),
            chart::thousands(refused),
            days.len(),
            usage::date_of(b.day),
            chart::thousands(b.total())
        ),
    };
    let columns: Vec<Column> = days
        .iter()
        .map(|d| Column {
            label: short_date(d.day),
            values: vec![d.allowed, d.refused],
        })
        .collect();
    let svg = chart::columns(
        id,
        (&title, &summary),
        &[ALLOWED, REFUSED],
        &columns,
        7,
        width,
    );
    let rows = days
        .iter()
        .rev()
        .map(|d| {
            let reasons: Vec<String> = d
                .reasons
                .iter()
                .map(|(why, n)| format!("{why}: {}", chart::thousands(*n)))
                .collect();
            vec![
                usage::date_of(d.day),
                chart::thousands(d.allowed),
                chart::thousands(d.refused),
                reasons.join(", "),
            ]
        })
        .collect();
    ChartView {
        id,
        title,
        summary,
        svg,
        head: vec!["Date (UTC)", "Allowed", "Refused", "Refused because"],
        rows,
    }
}

/// Live tokens expiring per week over the next 12 weeks from `today`.
pub fn expiring(today: i64, per_day: &[(i64, i64)]) -> ChartView {
    let weeks = usage::expiring_per_week(today, WEEKS, per_day);
    let total: i64 = weeks.iter().sum();
    let title = "Tokens expiring per week, next 12 weeks".to_owned();
    let summary = if total == 0 {
        "No active token expires in the next 12 weeks.".to_owned()
    } else {
        let (most, first) = weeks
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, std::cmp::Reverse(i)))
            .max()
            .map(|(n, std::cmp::Reverse(i))| (n, today + 7 * i as i64))
            .unwrap_or_default();
        format!(
            "{} active tokens expire in the next 12 weeks; the most, {}, in the week from {}.",
            chart::thousands(total),
            chart::thousands(most),
            usage::date_of(first)
        )
    };
    let series = [Series {
        name: "Expiring",
        class: "expiring",
    }];
    let columns: Vec<Column> = weeks
        .iter()
        .enumerate()
        .map(|(i, n)| Column {
            label: short_date(today + 7 * i as i64),
            values: vec![*n],
        })
        .collect();
    let svg = chart::columns(
        "expiring-chart",
        (&title, &summary),
        &series,
        &columns,
        2,
        chart::HALF,
    );
    let rows = weeks
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let from = today + 7 * i as i64;
            vec![
                format!("{} to {}", usage::date_of(from), usage::date_of(from + 6)),
                chart::thousands(*n),
            ]
        })
        .collect();
    ChartView {
        id: "expiring-chart",
        title,
        summary,
        svg,
        head: vec!["Week (UTC)", "Tokens expiring"],
        rows,
    }
}

/// The busiest tokens of the last [`BUSY_DAYS`] days.
pub fn busiest(busy: &[Busy]) -> ChartView {
    let title = format!("Busiest tokens, last {BUSY_DAYS} days");
    let summary = match busy.first() {
        None => format!("No token made requests in the last {BUSY_DAYS} days."),
        Some(b) => format!(
            "The {} busiest tokens by requests; the busiest, {}, made {}.",
            busy.len(),
            label(b),
            chart::thousands(b.uses)
        ),
    };
    let bars: Vec<Bar> = busy
        .iter()
        .map(|b| Bar {
            label: label(b),
            value: b.uses,
        })
        .collect();
    let svg = chart::bars("busiest-chart", &title, &summary, "busy", &bars);
    let rows = busy
        .iter()
        .map(|b| {
            vec![
                b.description.clone(),
                b.token_id.clone(),
                chart::thousands(b.uses),
            ]
        })
        .collect();
    ChartView {
        id: "busiest-chart",
        title,
        summary,
        svg,
        head: vec!["Description", "Token ID", "Requests"],
        rows,
    }
}

/// A busy token's name: its description, or its Token ID when it has none.
fn label(b: &Busy) -> String {
    if b.description.trim().is_empty() {
        b.token_id.clone()
    } else {
        b.description.clone()
    }
}

/// One token's requests per day over the last [`CHART_DAYS`] days.
pub async fn token_requests(app: &AppState, token_id: &str) -> AppResult<ChartView> {
    let today = usage::day_of(crate::domain::now());
    let rows = app
        .store
        .token_uses(token_id, today - CHART_DAYS + 1, today)
        .await?;
    let days = usage::days_ending(today, CHART_DAYS, &rows);
    Ok(requests("token-requests", "", &days, chart::FULL))
}

/// The dashboard's three pictures: all tokens' requests, expiry per week, the busiest tokens.
pub async fn dashboard(app: &AppState) -> AppResult<[ChartView; 3]> {
    let today = usage::day_of(crate::domain::now());
    let first = today - CHART_DAYS + 1;
    let (uses, expiry, busy) = tokio::try_join!(
        app.store.all_uses(first, today),
        app.store
            .live_tokens_by_expiry_day(today, today + 7 * WEEKS),
        app.store.busiest_tokens(BUSIEST),
    )?;
    let days = usage::days_ending(today, CHART_DAYS, &uses);
    Ok([
        requests("requests-chart", ", all tokens", &days, chart::HALF),
        expiring(today, &expiry),
        busiest(&busy),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_alternatives_say_what_the_pictures_show() {
        let today = usage::day_of(1_796_256_000); // 2026-12-03
        let rows = vec![
            (today, String::new(), 40),
            (today - 1, String::new(), 1_200),
            (today - 1, "expired".to_owned(), 3),
        ];
        let days = usage::days_ending(today, 30, &rows);
        let c = requests("r", ", all tokens", &days, chart::HALF);
        assert_eq!(c.title, "API requests per day, last 30 days, all tokens");
        assert_eq!(
            c.summary,
            "1,240 requests allowed and 3 refused in the last 30 days; the busiest day was 2026-12-02 with 1,203."
        );
        assert_eq!(c.rows.len(), 30);
        assert_eq!(c.rows[1], ["2026-12-02", "1,200", "3", "expired: 3"]);
        assert!(c.svg.contains(&c.summary));
        let none = requests("r", "", &usage::days_ending(today, 30, &[]), chart::FULL);
        assert_eq!(none.summary, "No requests in the last 30 days.");

        let e = expiring(today, &[(today + 8, 2), (today + 9, 5), (today, 1)]);
        assert_eq!(
            e.summary,
            "8 active tokens expire in the next 12 weeks; the most, 7, in the week from 2026-12-10."
        );
        assert_eq!(e.rows[0], ["2026-12-03 to 2026-12-09", "1"]);

        let b = busiest(&[Busy {
            token_id: "t1".into(),
            description: String::new(),
            uses: 9,
        }]);
        assert_eq!(
            b.summary,
            "The 1 busiest tokens by requests; the busiest, t1, made 9."
        );
    }
}
