//! Two request kinds measured side by side in alternating rounds (the API benchmarks that
//! compare: `api_vs_readyz`, `metrics_cost`).

use crate::api_server::median;

/// One side of a side-by-side run: a URL and the header to send.
pub struct Side<'a> {
    pub url: &'a str,
    pub header: Option<&'a str>,
}

/// Medians of a side-by-side run.
pub struct SideBySide {
    /// Throughput of each side, req/s.
    pub a: f64,
    pub b: f64,
    /// The median of the per-round ratios b/a (the headline figure).
    pub ratio: f64,
    /// Server CPU per request of each side, µs.
    pub cpu_a: f64,
    pub cpu_b: f64,
}

/// Runs `a` and `b` (each answering only 2xx) in `rounds` rounds after one unrecorded warm-up
/// pass each (page cache, statement caches, pool): A-B in odd rounds, B-A in even ones, so a
/// drift in machine load favours neither. Prints a row per round under `heading`.
pub fn side_by_side(rounds: usize, heading: &str, a: Side<'_>, b: Side<'_>) -> SideBySide {
    let run = |side: &Side<'_>| crate::api_server::wrk(side.url, side.header, true);
    println!("round  {heading}");
    run(&a);
    run(&b);
    let (mut pa, mut pb, mut ratios, mut ca, mut cb) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (ra, rb) = if round % 2 == 1 {
            let ra = run(&a);
            (ra, run(&b))
        } else {
            let rb = run(&b);
            (run(&a), rb)
        };
        let ratio = rb.per_second / ra.per_second;
        println!(
            "{round:>5}  {:>12.0}  {:>12.0}  {ratio:.3}   {:>6.1} / {:.1}",
            ra.per_second, rb.per_second, ra.cpu_us_per_request, rb.cpu_us_per_request
        );
        pa.push(ra.per_second);
        pb.push(rb.per_second);
        ratios.push(ratio);
        ca.push(ra.cpu_us_per_request);
        cb.push(rb.cpu_us_per_request);
    }
    SideBySide {
        a: median(&mut pa),
        b: median(&mut pb),
        ratio: median(&mut ratios),
        cpu_a: median(&mut ca),
        cpu_b: median(&mut cb),
    }
}
