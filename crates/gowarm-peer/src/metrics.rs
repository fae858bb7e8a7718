//! The server's counters and their Prometheus text form.
//!
//! Labels come from fixed sets ([`Route`], a handful of status codes), so a scan of
//! random paths cannot grow the metrics without bound.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::protocol::Route;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default)]
struct RouteMetrics {
    codes: Mutex<BTreeMap<u16, u64>>,
    bytes: AtomicU64,
    server_errors: AtomicU64,
    aborted: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Counters of one server, shared by its connections.
#[derive(Default)]
pub struct Metrics {
    routes: [RouteMetrics; Route::ALL.len()],
    in_flight: AtomicU64,
    connections: AtomicU64,
    connections_total: AtomicU64,
    idle_closed: AtomicU64,
    zips_built: AtomicU64,
    zip_build_micros: AtomicU64,
    rejected_busy: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

/// A copy of a server's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Responses by route and status code.
    pub requests: BTreeMap<(Route, u16), u64>,
    /// Body bytes sent, by route.
    pub bytes: BTreeMap<Route, u64>,
    /// Responses that failed on the server's side (5xx, or a body that could not be read).
    pub errors: u64,
    /// Responses whose body was not sent to its end (the client went away, or shutdown).
    pub aborted: u64,
    /// Requests being handled now.
    pub in_flight: u64,
    /// Connections open now.
    pub connections: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Connections closed for being idle.
    pub idle_closed: u64,
    /// Module zips built from extracted trees.
    pub zips_built: u64,
    /// Requests refused with 503 because `max_in_flight` stayed reached.
    pub rejected_busy: u64,
}

impl MetricsSnapshot {
    /// Responses of `route` with `code`.
    pub fn count(&self, route: Route, code: u16) -> u64 {
        self.requests.get(&(route, code)).copied().unwrap_or(0)
    }

    /// Responses of `route`, whatever their code.
    pub fn route_total(&self, route: Route) -> u64 {
        self.requests
            .iter()
            .filter(|((r, _), _)| *r == route)
            .map(|(_, n)| n)
            .sum()
    }

    /// Responses with `code`, whatever their route.
    pub fn code_total(&self, code: u16) -> u64 {
        self.requests
            .iter()
            .filter(|((_, c), _)| *c == code)
            .map(|(_, n)| n)
            .sum()
    }

    /// Body bytes sent for `route`.
    pub fn bytes_of(&self, route: Route) -> u64 {
        self.bytes.get(&route).copied().unwrap_or(0)
    }
}

impl Metrics {
    fn route(&self, r: Route) -> &RouteMetrics {
        &self.routes[r.index()]
    }

    /// Counts a response with its status code (when its head is sent).
    pub(crate) fn response(&self, r: Route, code: u16) {
        let m = self.route(r);
        if let Ok(mut c) = m.codes.lock() {
            *c.entry(code).or_default() += 1;
        }
        if code >= 500 {
            m.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts body bytes sent.
    pub(crate) fn bytes(&self, r: Route, n: u64) {
        self.route(r).bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Records the end of a response: its duration, and whether its body was cut short.
    pub(crate) fn finished(&self, r: Route, took: Duration, aborted: bool, failed: bool) {
        let m = self.route(r);
        if aborted {
            m.aborted.fetch_add(1, Ordering::Relaxed);
        }
        if failed {
            m.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                m.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        m.count.fetch_add(1, Ordering::Relaxed);
        m.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn in_flight(&self, delta: i64) {
        if delta >= 0 {
            self.in_flight.fetch_add(delta as u64, Ordering::Relaxed);
        } else {
            self.in_flight
                .fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
        }
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self, idle: bool) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
        if idle {
            self.idle_closed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn zip_built(&self, took: Duration) {
        self.zips_built.fetch_add(1, Ordering::Relaxed);
        self.zip_build_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn busy(&self) {
        self.rejected_busy.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut s = MetricsSnapshot::default();
        for r in Route::ALL {
            let m = self.route(r);
            if let Ok(c) = m.codes.lock() {
                for (code, n) in c.iter() {
                    s.requests.insert((r, *code), *n);
                }
            }
            s.bytes.insert(r, m.bytes.load(Ordering::Relaxed));
            s.errors += m.server_errors.load(Ordering::Relaxed);
            s.aborted += m.aborted.load(Ordering::Relaxed);
        }
        s.in_flight = self.in_flight.load(Ordering::Relaxed);
        s.connections = self.connections.load(Ordering::Relaxed);
        s.connections_total = self.connections_total.load(Ordering::Relaxed);
        s.idle_closed = self.idle_closed.load(Ordering::Relaxed);
        s.zips_built = self.zips_built.load(Ordering::Relaxed);
        s.rejected_busy = self.rejected_busy.load(Ordering::Relaxed);
        s
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "# HELP gowarm_peer_requests_total Responses sent, by route and HTTP status."
        );
        let _ = writeln!(w, "# TYPE gowarm_peer_requests_total counter");
        for r in Route::ALL {
            if let Ok(c) = self.route(r).codes.lock() {
                for (code, n) in c.iter() {
                    let _ = writeln!(
                        w,
                        "gowarm_peer_requests_total{{route=\"{}\",code=\"{code}\"}} {n}",
                        r.as_str()
                    );
                }
            }
        }
        let _ = writeln!(
            w,
            "# HELP gowarm_peer_response_bytes_total Response body bytes sent, by route."
        );
        let _ = writeln!(w, "# TYPE gowarm_peer_response_bytes_total counter");
        for r in Route::ALL {
            let _ = writeln!(
                w,
                "gowarm_peer_response_bytes_total{{route=\"{}\"}} {}",
                r.as_str(),
                self.route(r).bytes.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            w,
            "# HELP gowarm_peer_errors_total Responses that failed: kind=server (5xx or an unreadable file), kind=aborted (body not sent to its end)."
        );
        let _ = writeln!(w, "# TYPE gowarm_peer_errors_total counter");
        for r in Route::ALL {
            let m = self.route(r);
            for (kind, v) in [("server", &m.server_errors), ("aborted", &m.aborted)] {
                let _ = writeln!(
                    w,
                    "gowarm_peer_errors_total{{route=\"{}\",kind=\"{kind}\"}} {}",
                    r.as_str(),
                    v.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            w,
            "# HELP gowarm_peer_request_duration_seconds Time from request to the end of the response body."
        );
        let _ = writeln!(w, "# TYPE gowarm_peer_request_duration_seconds histogram");
        for r in Route::ALL {
            let m = self.route(r);
            let count = m.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    w,
                    "gowarm_peer_request_duration_seconds_bucket{{route=\"{}\",le=\"{le}\"}} {}",
                    r.as_str(),
                    m.buckets[i].load(Ordering::Relaxed)
                );
            }
            let _ = writeln!(
                w,
                "gowarm_peer_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {count}",
                r.as_str()
            );
            let _ = writeln!(
                w,
                "gowarm_peer_request_duration_seconds_sum{{route=\"{}\"}} {}",
                r.as_str(),
                m.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                w,
                "gowarm_peer_request_duration_seconds_count{{route=\"{}\"}} {count}",
                r.as_str()
            );
        }
        let gauges: [(&str, &str, &str, u64); 7] = [
            (
                "gowarm_peer_in_flight",
                "gauge",
                "Requests being handled.",
                self.in_flight.load(Ordering::Relaxed),
            ),
            (
                "gowarm_peer_connections",
                "gauge",
                "Connections open.",
                self.connections.load(Ordering::Relaxed),
            ),
            (
                "gowarm_peer_connections_total",
                "counter",
                "Connections accepted.",
                self.connections_total.load(Ordering::Relaxed),
            ),
            (
                "gowarm_peer_idle_closed_total",
                "counter",
                "Connections closed after the idle timeout.",
                self.idle_closed.load(Ordering::Relaxed),
            ),
            (
                "gowarm_peer_zips_built_total",
                "counter",
                "Module zips built from extracted trees.",
                self.zips_built.load(Ordering::Relaxed),
            ),
            (
                "gowarm_peer_busy_rejected_total",
                "counter",
                "Requests answered 503 because max_in_flight stayed reached.",
                self.rejected_busy.load(Ordering::Relaxed),
            ),
            (
                "gowarm_peer_zip_build_microseconds_total",
                "counter",
                "Time spent building module zips.",
                self.zip_build_micros.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(w, "# HELP {name} {help}");
            let _ = writeln!(w, "# TYPE {name} {kind}");
            let _ = writeln!(w, "{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histograms() {
        let m = Metrics::default();
        m.response(Route::ModZip, 200);
        m.bytes(Route::ModZip, 1234);
        m.finished(Route::ModZip, Duration::from_millis(3), false, false);
        m.response(Route::Output, 500);
        let text = m.render();
        assert!(text.contains("gowarm_peer_requests_total{route=\"mod_zip\",code=\"200\"} 1"));
        assert!(text.contains("gowarm_peer_response_bytes_total{route=\"mod_zip\"} 1234"));
        assert!(text.contains(
            "gowarm_peer_request_duration_seconds_bucket{route=\"mod_zip\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "gowarm_peer_request_duration_seconds_bucket{route=\"mod_zip\",le=\"0.001\"} 0"
        ));
        assert!(text.contains("gowarm_peer_errors_total{route=\"build_output\",kind=\"server\"} 1"));
        let s = m.snapshot();
        assert_eq!(s.count(Route::ModZip, 200), 1);
        assert_eq!(s.errors, 1);
    }
}
