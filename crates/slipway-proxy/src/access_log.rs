//! The access log: one JSON line per request, written off the request path. A request
//! formats its line straight into a shared buffer (no allocation of its own, no wake-up of
//! another thread); a writer thread swaps the buffer out every 100 ms and writes it in one go.
//! When the output cannot keep up and the buffer is full, lines are dropped (and counted on
//! stderr) rather than slowing requests down.
//!
//! A line: `{"time":"2026-12-05T08:00:00.123Z","host":"shop.example","method":"GET",
//! "path":"/api/items","status":200,"service":"shop/prod/api","release":"r7",
//! "target":"shop-prod-api-r7-1:8000","duration_ms":1.42,"bytes":512}`. `path` has no query
//! string (it may carry tokens); `service`, `release` and `target` are null when no release
//! was picked (no route, maintenance); `bytes` counts the response body sent; `duration_ms`
//! runs from the request's arrival to the end of its response body; `status` is 0 for a client
//! that left before its answer.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// Bytes waiting for the writer thread before new lines are dropped.
const BUFFER_LIMIT: usize = 8 << 20;
/// How often the writer thread writes what has gathered.
const WRITE_EVERY: Duration = Duration::from_millis(100);

/// One request as its access-log line says it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry<'a> {
    /// When the request arrived: RFC 3339, UTC, milliseconds.
    pub time: &'a str,
    /// The Host header (or the request target's authority).
    pub host: Option<&'a str>,
    /// `GET`, `POST`...
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    /// The status sent to the client.
    pub status: u16,
    /// The routed service (`project/env/app`), when a route matched.
    pub service: Option<&'a str>,
    /// The release that answered (or was tried last).
    pub release: Option<&'a str>,
    /// The container (`host:port`) that answered (or was tried last).
    pub target: Option<&'a str>,
    /// From the request's arrival to the end of the response body, in milliseconds.
    pub duration_ms: f64,
    /// Bytes of response body sent.
    pub bytes: u64,
}

impl Entry<'_> {
    /// The entry as one line of JSON, newline included, appended to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, self).expect("an entry serializes");
        out.push(b'\n');
    }
}

/// `2026-12-05T08:00:00.123Z` from Unix milliseconds.
pub fn timestamp(unix_ms: u64) -> String {
    // Every request of a second shares the date and time: each thread keeps the last one.
    thread_local! {
        static LAST_SECOND: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let second = unix_ms / 1000;
    LAST_SECOND.with_borrow_mut(|(last, whole)| {
        if *last != second {
            let text = slipway_core::time::rfc3339(second);
            *whole = text.strip_suffix('Z').unwrap_or(&text).to_owned();
            *last = second;
        }
        let millis = unix_ms % 1000;
        let mut out = String::with_capacity(whole.len() + 5);
        out.push_str(whole);
        out.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
        out.push('Z');
        out
    })
}

/// Milliseconds, rounded to microseconds, from a duration.
pub fn millis(duration: std::time::Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// Where the proxy's access-log lines go.
#[derive(Debug, Clone)]
pub struct AccessLog {
    shared: Arc<Gathered>,
}

#[derive(Debug, Default)]
struct Gathered {
    lines: Mutex<Vec<u8>>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Lines to the process's standard output (a container's log).
    pub fn to_stdout() -> AccessLog {
        AccessLog::to_writer(std::io::stdout())
    }

    /// Lines to `output`, from a thread of their own; the thread ends once every clone of the
    /// log is dropped and what they gathered is written.
    pub fn to_writer(output: impl Write + Send + 'static) -> AccessLog {
        let shared = Arc::new(Gathered::default());
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&theirs, output))
            .expect("a thread starts");
        AccessLog { shared }
    }

    /// Adds `entry`'s line to what the writer thread writes next; drops it when the buffer is full.
    pub fn record(&self, entry: &Entry<'_>) {
        let mut lines = self.shared.lines.lock().expect("not poisoned");
        if lines.len() >= BUFFER_LIMIT {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        entry.write_line(&mut lines);
    }
}

fn write_lines(gathered: &Arc<Gathered>, output: impl Write) {
    let mut output = output;
    let mut spare = Vec::new();
    loop {
        std::thread::sleep(WRITE_EVERY);
        // Only this thread's handle left: nothing more can be added after this round.
        let last = Arc::strong_count(gathered) == 1;
        std::mem::swap(
            &mut *gathered.lines.lock().expect("not poisoned"),
            &mut spare,
        );
        let lost = gathered.dropped.swap(0, Ordering::Relaxed);
        let failed =
            !spare.is_empty() && (output.write_all(&spare).is_err() || output.flush().is_err());
        spare.clear();
        if lost > 0 || failed {
            eprintln!(
                "slipway proxy: access log {}",
                if failed {
                    "output failed".to_owned()
                } else {
                    format!("could not keep up: {lost} lines dropped")
                }
            );
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_every_field() {
        let entry = Entry {
            time: "2026-12-05T08:00:00.123Z",
            host: Some("shop.example"),
            method: "GET",
            path: "/api/\"items\"",
            status: 200,
            service: Some("shop/prod/api"),
            release: Some("r7"),
            target: Some("shop-prod-api-r7-1:8000"),
            duration_ms: 1.42,
            bytes: 512,
        };
        let mut line = Vec::new();
        entry.write_line(&mut line);
        let text = String::from_utf8(line).unwrap();
        assert_eq!(
            text,
            "{\"time\":\"2026-12-05T08:00:00.123Z\",\"host\":\"shop.example\",\"method\":\"GET\",\"path\":\"/api/\\\"items\\\"\",\"status\":200,\"service\":\"shop/prod/api\",\"release\":\"r7\",\"target\":\"shop-prod-api-r7-1:8000\",\"duration_ms\":1.42,\"bytes\":512}\n"
        );
        let back: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(back["path"], "/api/\"items\"");
    }

    #[test]
    fn times_have_milliseconds_and_durations_microseconds() {
        assert_eq!(timestamp(1_800_000_000_007), "2027-01-15T08:00:00.007Z");
        // The same second again, and the next one: the kept date and time is never stale.
        assert_eq!(timestamp(1_800_000_000_999), "2027-01-15T08:00:00.999Z");
        assert_eq!(timestamp(1_800_000_001_040), "2027-01-15T08:00:01.040Z");
        assert_eq!(timestamp(1_800_000_000_100), "2027-01-15T08:00:00.100Z");
        assert_eq!(millis(std::time::Duration::from_micros(1_425)), 1.425);
    }

    #[test]
    fn lines_reach_the_output_in_order() {
        #[derive(Clone, Default)]
        struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let output = Shared::default();
        let log = AccessLog::to_writer(output.clone());
        for n in 0..100u16 {
            log.record(&Entry {
                time: "t",
                host: None,
                method: "GET",
                path: "/",
                status: n,
                service: None,
                release: None,
                target: None,
                duration_ms: 0.0,
                bytes: 0,
            });
        }
        drop(log);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
            if text.lines().count() == 100 {
                let statuses: Vec<u16> = text
                    .lines()
                    .map(|l| {
                        let line: serde_json::Value = serde_json::from_str(l).unwrap();
                        line["status"].as_u64().unwrap() as u16
                    })
                    .collect();
                assert_eq!(statuses, (0..100).collect::<Vec<_>>());
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
