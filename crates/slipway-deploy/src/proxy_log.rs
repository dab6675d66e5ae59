//! `slipway logs ENV --proxy`: the access-log lines of an environment's requests, read from
//! the standard output of the proxy on each host. A proxy serves every project and environment
//! of its host, so its lines are kept only when their `service` is one of the environment's.
//! The engine stamps every line; the stamps say which lines a follow has already shown.

use std::collections::VecDeque;

use serde::Deserialize;

use crate::host::{Host, PROXY_CONTAINER};
use crate::{DeployError, Result};

/// A moment as the engine stamps a log line: Unix seconds and nanoseconds.
pub type Stamp = (i64, u32);

/// `--since`: `90s`, `10m`, `2h`, `3d` before `now`, or Unix seconds.
pub fn parse_since(text: &str, now: u64) -> Result<i64> {
    let bad = || {
        DeployError::Plan(format!(
            "--since `{text}` is not a time: give an age (`30s`, `10m`, `2h`, `1d`) or Unix seconds"
        ))
    };
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(now as i64 - number.saturating_mul(unit))
}

/// The engine's stamp at the start of a line (`2026-12-05T08:00:00.123456789Z text`) and the
/// text after it.
pub fn split_stamp(line: &str) -> Option<(Stamp, &str)> {
    let (stamp, text) = line.split_once(' ')?;
    Some((parse_rfc3339(stamp)?, text))
}

/// `2026-12-05T08:00:00.123456789Z` (UTC, as the engine writes it) as Unix seconds and nanos.
pub fn parse_rfc3339(text: &str) -> Option<Stamp> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(|p| p.parse::<i64>());
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.splitn(3, ':').map(|p| p.parse::<i64>());
    let (hour, minute, second) = (
        clock.next()?.ok()?,
        clock.next()?.ok()?,
        clock.next()?.ok()?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || fraction.len() > 9 {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u32>().ok()? * 10u32.pow(9 - fraction.len() as u32)
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second, nanos))
}

/// Whether an access-log line is a request of the service prefix `project/env/`.
pub fn belongs(text: &str, prefix: &str) -> bool {
    #[derive(Deserialize)]
    struct Line {
        service: Option<String>,
    }
    serde_json::from_str::<Line>(text)
        .ok()
        .and_then(|l| l.service)
        .is_some_and(|s| s.starts_with(prefix))
}

/// The last `tail` lines of one host's proxy belonging to `prefix`, since `since`, and the
/// stamp of the last line read (whether kept or not).
async fn recent(
    host: &Host,
    prefix: &str,
    since: Option<i64>,
    tail: usize,
) -> Result<(VecDeque<String>, Option<Stamp>)> {
    let mut kept = VecDeque::with_capacity(tail.min(4096));
    let mut last = None;
    let mut keep = |line: &str| {
        let Some((stamp, text)) = split_stamp(line) else {
            return;
        };
        last = Some(stamp);
        if tail > 0 && belongs(text, prefix) {
            if kept.len() == tail {
                kept.pop_front();
            }
            kept.push_back(text.to_owned());
        }
    };
    host.engine
        .stdout_lines(PROXY_CONTAINER, since, false, &mut keep)
        .await?;
    Ok((kept, last))
}

/// The access-log lines of `environment`'s requests on every host's proxy: the last `tail` of
/// each host since `since`, then, with `follow`, each new one as it comes (every host at once).
/// Each line goes to `line` with its host's name.
pub async fn read(
    hosts: &[Host],
    project: &str,
    environment: &str,
    since: Option<i64>,
    tail: usize,
    follow: bool,
    line: &mut (dyn FnMut(&str, &str) + Send),
) -> Result<()> {
    let prefix = format!("{project}/{environment}/");
    for host in hosts {
        if !host.engine.is_running(PROXY_CONTAINER).await {
            return Err(DeployError::Proxy {
                host: host.name.clone(),
                message: format!(
                    "no proxy runs there: deploy `{environment}` first (`slipway deploy {environment}`)"
                ),
            });
        }
    }
    let mut seen = Vec::new();
    for host in hosts {
        let (kept, last) = recent(host, &prefix, since, tail).await?;
        for text in kept {
            line(&host.name, &text);
        }
        seen.push(last);
    }
    if !follow {
        return Ok(());
    }
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let follows: Vec<_> = hosts
        .iter()
        .zip(seen)
        .map(|(host, last)| {
            let sender = sender.clone();
            let prefix = prefix.clone();
            async move {
                // From the second of the last line shown; lines up to it were shown already.
                let from = last
                    .map(|(seconds, _)| seconds)
                    .or(since)
                    .unwrap_or_else(|| slipway_core::time::now() as i64);
                let mut send = |raw: &str| {
                    let Some((stamp, text)) = split_stamp(raw) else {
                        return;
                    };
                    if last.is_some_and(|last| stamp <= last) || !belongs(text, &prefix) {
                        return;
                    }
                    let _ = sender.send((host.name.clone(), text.to_owned()));
                };
                host.engine
                    .stdout_lines(PROXY_CONTAINER, Some(from), true, &mut send)
                    .await
            }
        })
        .collect();
    drop(sender);
    let printed = async {
        while let Some((host, text)) = receiver.recv().await {
            line(&host, &text);
        }
    };
    let (results, ()) = tokio::join!(futures_util::future::join_all(follows), printed);
    for result in results {
        result?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_ages_and_unix_seconds() {
        let now = 1_800_000_000;
        assert_eq!(parse_since("90s", now).unwrap(), 1_799_999_910);
        assert_eq!(parse_since("10m", now).unwrap(), 1_799_999_400);
        assert_eq!(parse_since("2h", now).unwrap(), 1_799_992_800);
        assert_eq!(parse_since("1d", now).unwrap(), 1_799_913_600);
        assert_eq!(parse_since("1700000000", now).unwrap(), 1_700_000_000);
        for bad in ["", "m", "10y", "ten minutes", "1.5h"] {
            let error = parse_since(bad, now).unwrap_err().to_string();
            assert!(error.contains("is not a time"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_engines_stamps_read_as_seconds_and_nanoseconds() {
        let (stamp, text) = split_stamp("2027-01-15T08:00:00.123456789Z {\"status\":200}").unwrap();
        assert_eq!(stamp, (1_800_000_000, 123_456_789));
        assert_eq!(text, "{\"status\":200}");
        // The engine leaves out trailing zeros: the order is still right.
        let shorter = split_stamp("2027-01-15T08:00:00.5Z x").unwrap().0;
        let longer = split_stamp("2027-01-15T08:00:00.123Z x").unwrap().0;
        assert!(shorter > longer);
        assert_eq!(
            split_stamp("2000-03-01T00:00:00Z x").unwrap().0,
            (951_868_800, 0)
        );
        assert_eq!(split_stamp("not-a-stamp x"), None);
    }

    #[test]
    fn only_the_environments_requests_are_kept() {
        let line = |service: &str| {
            format!("{{\"time\":\"t\",\"status\":200,\"service\":{service},\"path\":\"/\"}}")
        };
        assert!(belongs(&line("\"shop/prod/api\""), "shop/prod/"));
        assert!(!belongs(&line("\"shop/production/api\""), "shop/prod/"));
        assert!(!belongs(&line("\"blog/prod/web\""), "shop/prod/"));
        assert!(!belongs(&line("null"), "shop/prod/"));
        assert!(!belongs("slipway proxy on 0.0.0.0:8090", "shop/prod/"));
    }
}
