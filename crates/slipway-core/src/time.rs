//! Time as slipway writes it: RFC 3339 in UTC, from Unix seconds, without a date library.

/// `2026-11-26T08:00:00Z` from Unix seconds (image `created`, event times, run listings).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let seconds = epoch % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// Unix seconds now, from the system clock: the one place slipway reads the wall clock.
/// Code that decides something from the time takes a [`Clock`] instead, so tests can set it.
pub fn now() -> u64 {
    SystemClock.now()
}

/// Unix nanoseconds now, from the system clock: only to make names unique (temporary files),
/// never to decide anything.
pub fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Where the time comes from: the system clock in the product, a [`ManualClock`] in tests.
pub trait Clock: Send + Sync {
    /// Unix seconds now.
    fn now(&self) -> u64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that moves only when told: the double for decisions that depend on the time.
#[derive(Debug, Default)]
pub struct ManualClock {
    seconds: std::sync::atomic::AtomicU64,
}

impl ManualClock {
    /// A clock that reads `seconds` until it is moved.
    pub fn at(seconds: u64) -> Self {
        Self {
            seconds: std::sync::atomic::AtomicU64::new(seconds),
        }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.seconds
            .fetch_add(seconds, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.seconds.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_nanosecond_clock_is_the_same_wall_clock() {
        let before = super::now();
        let nanos = super::now_nanos();
        let after = super::now();
        let seconds = (nanos / 1_000_000_000) as u64;
        assert!(
            before <= seconds && seconds <= after,
            "{before} {seconds} {after}"
        );
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_683_600), "2026-11-26T09:00:00Z");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        use super::Clock;
        let clock = super::ManualClock::at(100);
        assert_eq!(clock.now(), 100);
        clock.advance(5);
        assert_eq!(clock.now(), 105);
    }
}
