//! When scheduled jobs run: cron expressions (five fields, names, ranges, steps, the `@daily`
//! shorthands, and AWS's `cron(...)` form) and rates (`rate(15 minutes)`, `@every 1h`), in a time
//! zone; the next run after a moment; and the same schedule written for EventBridge Scheduler.
//! No I/O: the time zone database is compiled in, so a host without tzdata decides the same.

use std::fmt;
use std::ops::Range;

use jiff::civil::{Date, DateTime};
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{Timestamp, ToSpan};

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Minutes, hours, days of the month, months and days of the week, in the job's time zone.
    Cron(Cron),
    /// Every so many seconds, on multiples of the period since the Unix epoch (UTC), so that
    /// `rate(1 hour)` runs on the hour and `rate(15 minutes)` at :00, :15, :30 and :45.
    Rate(u64),
}

/// The five fields of a cron expression, as sets of the values they allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// The day-of-month field was `*` (or `?`): only the weekdays restrict the day.
    any_day: bool,
    /// The day-of-week field was `*` (or `?`): only the days of the month restrict the day.
    any_weekday: bool,
}

/// Why a schedule does not parse: the bytes of the text at fault, what is wrong, what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// Byte range within the schedule's text.
    pub at: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub help: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.help)
    }
}

const FORMS: &str = "write five cron fields (`0 3 * * *`: minute hour day-of-month month \
                     day-of-week), `@hourly`/`@daily`/`@weekly`/`@monthly`, or `rate(1 hour)`";

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// The last value `*` stands for (Saturday, 6, for the day of the week, where 7 is a
    /// second Sunday).
    wildcard_max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    wildcard_max: 59,
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    wildcard_max: 23,
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    wildcard_max: 31,
    name: "day of the month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    wildcard_max: 12,
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const WEEKDAY: Field = Field {
    wildcard_max: 6,
    name: "day of the week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// Parses a schedule as written in `[jobs.NAME] schedule`.
pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
    let trimmed = text.trim();
    let lead = text.len() - text.trim_start().len();
    let whole = lead..lead + trimmed.len();
    if trimmed.is_empty() {
        return Err(ScheduleError {
            at: 0..text.len(),
            message: "the schedule is empty".into(),
            help: FORMS.into(),
        });
    }
    if let Some(inner) = strip_call(trimmed, "rate") {
        let offset = lead + "rate(".len();
        return parse_rate(inner, offset).map(Schedule::Rate);
    }
    if let Some(every) = trimmed.strip_prefix("@every") {
        let offset = lead + "@every".len();
        return parse_every(every, offset).map(Schedule::Rate);
    }
    if let Some(inner) = strip_call(trimmed, "cron") {
        return parse_fields(inner, lead + "cron(".len(), true).map(Schedule::Cron);
    }
    if trimmed.starts_with('@') {
        let fields = match trimmed {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ => {
                return Err(ScheduleError {
                    at: whole,
                    message: format!("`{trimmed}` is not a schedule shorthand"),
                    help: "the shorthands are @hourly, @daily (@midnight), @weekly, @monthly \
                           and @yearly (@annually)"
                        .into(),
                });
            }
        };
        return parse_fields(fields, 0, false)
            .map(Schedule::Cron)
            .map_err(|_| unreachable_shorthand(whole));
    }
    parse_fields(trimmed, lead, false).map(Schedule::Cron)
}

fn unreachable_shorthand(at: Range<usize>) -> ScheduleError {
    ScheduleError {
        at,
        message: "this shorthand did not expand".into(),
        help: FORMS.into(),
    }
}

fn strip_call<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn parse_rate(inner: &str, offset: usize) -> Result<u64, ScheduleError> {
    let at = offset..offset + inner.len();
    let bad = |message: String| ScheduleError {
        at: at.clone(),
        message,
        help: "write `rate(VALUE UNIT)` with a whole number and minute(s), hour(s) or day(s), \
               e.g. `rate(15 minutes)`"
            .into(),
    };
    let mut words = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(bad(format!("`rate({inner})` is not a rate")));
    };
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| bad(format!("`{value}` is not a whole number above zero")))?;
    let unit_seconds = match unit {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        _ => return Err(bad(format!("`{unit}` is not a unit of a rate"))),
    };
    Ok(value * unit_seconds)
}

fn parse_every(text: &str, offset: usize) -> Result<u64, ScheduleError> {
    let lead = text.len() - text.trim_start().len();
    let body = text.trim();
    let at = offset + lead..offset + lead + body.len();
    let seconds = crate::manifest::Duration::parse(body)
        .map(|d| d.0.as_secs())
        .ok()
        .filter(|s| *s >= 60 && s % 60 == 0);
    seconds.ok_or_else(|| ScheduleError {
        at,
        message: format!("`@every {body}` is not a period of whole minutes"),
        help: "write a period of at least one minute, such as `@every 1h30m` or `@every 10m`"
            .into(),
    })
}

fn parse_fields(text: &str, offset: usize, aws: bool) -> Result<Cron, ScheduleError> {
    let mut fields = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                fields.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    let expected = if aws { 6 } else { 5 };
    if fields.len() != expected {
        let message = if aws {
            format!(
                "`cron({text})` has {} fields where AWS's form has six",
                fields.len()
            )
        } else {
            format!("`{text}` has {} fields where cron has five", fields.len())
        };
        return Err(ScheduleError {
            at: offset..offset + text.len(),
            message,
            help: if aws {
                "write `cron(minute hour day-of-month month day-of-week year)`, e.g. \
                 `cron(0 3 * * ? *)`"
                    .into()
            } else {
                FORMS.into()
            },
        });
    }
    if aws {
        let (at, year) = fields[5];
        if year != "*" {
            return Err(ScheduleError {
                at: offset + at..offset + at + year.len(),
                message: format!("a job cannot be limited to the year `{year}`"),
                help: "write `*` for the year".into(),
            });
        }
    }
    let parse = |index: usize, field: &Field| {
        let (at, text) = fields[index];
        parse_field(text, field, offset + at, aws && index == 4)
    };
    let minutes = parse(0, &MINUTE)?;
    let hours = parse(1, &HOUR)?;
    let days = parse(2, &DAY)?;
    let months = parse(3, &MONTH)?;
    let mut weekdays = parse(4, &WEEKDAY)?;
    // 7 is Sunday too.
    if weekdays & (1 << 7) != 0 {
        weekdays = (weekdays | 1) & !(1 << 7);
    }
    let is_any = |index: usize| matches!(fields[index].1, "*" | "?");
    Ok(Cron {
        minutes,
        hours: hours as u32,
        days: days as u32,
        months: months as u16,
        weekdays: weekdays as u8,
        any_day: is_any(2),
        any_weekday: is_any(4),
    })
}

/// The set of values one field allows, as bits. `aws_weekday`: AWS numbers Sunday 1 to
/// Saturday 7, where cron numbers Sunday 0 (or 7) to Saturday 6.
fn parse_field(
    text: &str,
    field: &Field,
    offset: usize,
    aws_weekday: bool,
) -> Result<u64, ScheduleError> {
    let mut bits = 0u64;
    let mut position = 0;
    for part in text.split(',') {
        let at = offset + position..offset + position + part.len();
        position += part.len() + 1;
        let bad = |message: String| ScheduleError {
            at: at.clone(),
            message,
            help: format!(
                "the {} takes {}-{}{}, `*`, ranges `a-b`, steps `*/n` or `a-b/n`, and lists `a,b`",
                field.name,
                field.min,
                field.max,
                if field.names.is_empty() {
                    String::new()
                } else {
                    format!(
                        " or the names {}-{}",
                        field.names[0],
                        field.names[field.names.len() - 1]
                    )
                }
            ),
        };
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    bad(format!(
                        "`{step}` is not a step (a whole number above zero)"
                    ))
                })?;
                (range, Some(step))
            }
            None => (part, None),
        };
        let value = |word: &str| -> Result<u32, ScheduleError> {
            let upper = word.to_ascii_uppercase();
            if let Some(i) = field.names.iter().position(|n| *n == upper) {
                return Ok(i as u32 + field.min);
            }
            let number: u32 = word
                .parse()
                .map_err(|_| bad(format!("`{word}` is not a {}", field.name)))?;
            let (min, max) = if aws_weekday {
                (1, 7)
            } else {
                (field.min, field.max)
            };
            if number < min || number > max {
                return Err(bad(format!(
                    "{word} is outside the {}'s range {min}-{max}",
                    field.name
                )));
            }
            // AWS numbers Sunday 1.
            Ok(if aws_weekday { number - 1 } else { number })
        };
        if range == "?" && field.name != DAY.name && field.name != WEEKDAY.name {
            return Err(bad(format!(
                "`?` is only allowed for days, not the {}",
                field.name
            )));
        }
        let (low, high) = match range {
            "*" | "?" => (field.min, field.wildcard_max),
            _ => match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (value(a)?, value(b)?);
                    if a > b {
                        return Err(bad(format!("the range `{range}` runs backwards")));
                    }
                    (a, b)
                }
                // `5/15` means from 5 to the end, every 15.
                None if step.is_some() => (value(range)?, field.wildcard_max),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        let step = step.unwrap_or(1);
        let mut v = low;
        while v <= high {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Cron {
    fn day_matches(&self, date: Date) -> bool {
        let day = self.days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (true, false) => weekday,
            (false, true) => day,
            // Both restricted: either one is enough, as every cron does.
            (false, false) => day || weekday,
        }
    }

    /// The first civil minute at or after `from` that the fields allow, looking at most
    /// `limit_years` ahead.
    fn next_civil(&self, from: DateTime, limit_years: i16) -> Option<DateTime> {
        let mut t = from;
        let end_year = from.year().saturating_add(limit_years);
        while t.year() <= end_year {
            if self.months & (1 << t.month()) == 0 {
                t = t
                    .date()
                    .first_of_month()
                    .checked_add(1.month())
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t
                    .date()
                    .checked_add(1.day())
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            return Some(t);
        }
        None
    }

    /// The expression in EventBridge Scheduler's `cron(...)` form, which wants `?` in one of
    /// the two day fields and numbers Sunday 1.
    fn aws(&self) -> Result<String, String> {
        if !self.any_day && !self.any_weekday {
            return Err(
                "EventBridge Scheduler cannot restrict both the day of the month and \
                        the day of the week: keep one of them `*`"
                    .into(),
            );
        }
        let (days, weekdays) = if self.any_weekday {
            (list(u64::from(self.days), 1, 31), "?".to_owned())
        } else {
            let names: Vec<&str> = (0..7)
                .filter(|d| self.weekdays & (1 << d) != 0)
                .map(|d| WEEKDAY.names[d])
                .collect();
            let weekdays = if names.len() == 7 {
                "*".to_owned()
            } else {
                names.join(",")
            };
            ("?".to_owned(), weekdays)
        };
        Ok(format!(
            "cron({} {} {} {} {} *)",
            list(self.minutes, 0, 59),
            list(u64::from(self.hours), 0, 23),
            days,
            list(u64::from(self.months), 1, 12),
            weekdays
        ))
    }
}

/// A field's values written back: `*`, `start/step` for a progression that runs to the end,
/// or a list.
fn list(bits: u64, min: u32, max: u32) -> String {
    let values: Vec<u32> = (min..=max).filter(|v| bits & (1 << v) != 0).collect();
    if values.len() == (max - min + 1) as usize {
        return "*".into();
    }
    if values.len() > 2 {
        let step = values[1] - values[0];
        let progression = values.windows(2).all(|w| w[1] - w[0] == step);
        if progression && values[values.len() - 1] + step > max {
            return format!("{}/{step}", values[0]);
        }
    }
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Looks up a time zone by its IANA name (`Europe/Paris`, `UTC`).
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not a time zone: write an IANA name such as `UTC` or `Europe/Paris`")
    })
}

impl Schedule {
    /// The first run strictly after `after` (Unix seconds), in time zone `zone`; `None` when the
    /// fields allow no date within four years (`0 0 30 2 *`).
    ///
    /// A local time that a change to summer time skips runs at the same offset after the
    /// change (02:30 becomes 03:30); one that happens twice runs once, the first time.
    pub fn next_after(&self, after: i64, zone: &TimeZone) -> Option<i64> {
        match self {
            Schedule::Rate(period) => {
                let period = *period as i64;
                Some((after.div_euclid(period) + 1) * period)
            }
            Schedule::Cron(cron) => {
                let instant = Timestamp::from_second(after).ok()?;
                let local = instant.to_zoned(zone.clone()).datetime();
                let mut from = local
                    .with()
                    .second(0)
                    .subsec_nanosecond(0)
                    .build()
                    .ok()?
                    .checked_add(1.minute())
                    .ok()?;
                loop {
                    let civil = cron.next_civil(from, 4)?;
                    let at = zone
                        .to_ambiguous_zoned(civil)
                        .disambiguate(Disambiguation::Compatible)
                        .ok()?
                        .timestamp()
                        .as_second();
                    if at > after {
                        return Some(at);
                    }
                    from = civil.checked_add(1.minute()).ok()?;
                }
            }
        }
    }

    /// Whether a fire would be due strictly after `after` and at or before `now`.
    pub fn due(&self, after: i64, now: i64, zone: &TimeZone) -> bool {
        self.next_after(after, zone).is_some_and(|at| at <= now)
    }

    /// The schedule as EventBridge Scheduler's `ScheduleExpression`.
    pub fn aws_expression(&self) -> Result<String, String> {
        match self {
            Schedule::Cron(cron) => cron.aws(),
            Schedule::Rate(seconds) => {
                let (value, unit) = if seconds % 86_400 == 0 {
                    (seconds / 86_400, "day")
                } else if seconds % 3_600 == 0 {
                    (seconds / 3_600, "hour")
                } else {
                    (seconds / 60, "minute")
                };
                let plural = if value == 1 { "" } else { "s" };
                Ok(format!("rate({value} {unit}{plural})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_second()
    }

    fn show(seconds: i64) -> String {
        Timestamp::from_second(seconds).unwrap().to_string()
    }

    fn next(schedule: &str, zone: &str, after: &str) -> String {
        let zone = time_zone(zone).unwrap();
        show(
            parse(schedule)
                .unwrap()
                .next_after(at(after), &zone)
                .unwrap(),
        )
    }

    #[test]
    fn daily_at_three_runs_next_at_three() {
        assert_eq!(
            next("0 3 * * *", "UTC", "2026-12-05T01:00:00Z"),
            "2026-12-05T03:00:00Z"
        );
        assert_eq!(
            next("0 3 * * *", "UTC", "2026-12-05T03:00:00Z"),
            "2026-12-06T03:00:00Z"
        );
    }

    #[test]
    fn a_time_zone_moves_the_run() {
        // 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC in summer.
        assert_eq!(
            next("0 3 * * *", "Europe/Paris", "2026-12-05T00:00:00Z"),
            "2026-12-05T02:00:00Z"
        );
        assert_eq!(
            next("0 3 * * *", "Europe/Paris", "2026-07-05T00:00:00Z"),
            "2026-07-05T01:00:00Z"
        );
    }

    #[test]
    fn a_skipped_local_time_runs_after_the_change_and_a_doubled_one_runs_once() {
        // 2026-03-29: Paris jumps from 02:00 to 03:00.
        assert_eq!(
            next("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z"),
            "2026-03-29T01:30:00Z"
        );
        // 2026-10-25: 02:30 happens twice in Paris; the job runs the first time only.
        let first = next("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z");
        assert_eq!(first, "2026-10-25T00:30:00Z");
        assert_eq!(
            next("30 2 * * *", "Europe/Paris", &first),
            "2026-10-26T01:30:00Z"
        );
    }

    #[test]
    fn steps_ranges_lists_and_names() {
        assert_eq!(
            next("*/15 * * * *", "UTC", "2026-12-05T10:07:30Z"),
            "2026-12-05T10:15:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * MON-FRI", "UTC", "2026-12-05T10:00:00Z"),
            "2026-12-07T09:00:00Z",
            "Saturday the 5th: next is Monday 09:00"
        );
        assert_eq!(
            next("0 0 1 jan,jul *", "UTC", "2026-02-01T00:00:00Z"),
            "2026-07-01T00:00:00Z"
        );
        assert_eq!(
            next("0 12 * * 7", "UTC", "2026-12-05T00:00:00Z"),
            "2026-12-06T12:00:00Z",
            "7 is Sunday"
        );
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 15th, or any Monday.
        assert_eq!(
            next("0 0 15 * 1", "UTC", "2026-12-08T00:00:00Z"),
            "2026-12-14T00:00:00Z"
        );
        assert_eq!(
            next("0 0 15 * 1", "UTC", "2026-12-14T00:00:00Z"),
            "2026-12-15T00:00:00Z"
        );
    }

    #[test]
    fn leap_days_and_impossible_dates() {
        assert_eq!(
            next("0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        let never = parse("0 0 30 2 *").unwrap();
        assert_eq!(
            never.next_after(at("2026-01-01T00:00:00Z"), &TimeZone::UTC),
            None
        );
    }

    #[test]
    fn shorthands_rates_and_the_aws_form() {
        assert_eq!(
            next("@daily", "UTC", "2026-12-05T10:00:00Z"),
            "2026-12-06T00:00:00Z"
        );
        assert_eq!(
            next("rate(1 hour)", "UTC", "2026-12-05T10:00:00Z"),
            "2026-12-05T11:00:00Z"
        );
        assert_eq!(
            next("rate(15 minutes)", "UTC", "2026-12-05T10:07:00Z"),
            "2026-12-05T10:15:00Z"
        );
        assert_eq!(
            next("@every 1h30m", "UTC", "2026-12-05T10:00:00Z"),
            "2026-12-05T10:30:00Z"
        );
        // AWS numbers Sunday 1: `2` is Monday.
        assert_eq!(
            next("cron(0 3 ? * 2 *)", "UTC", "2026-12-05T10:00:00Z"),
            "2026-12-07T03:00:00Z"
        );
    }

    #[test]
    fn written_for_eventbridge_scheduler() {
        let aws = |text: &str| parse(text).unwrap().aws_expression();
        assert_eq!(aws("0 3 * * *").unwrap(), "cron(0 3 * * ? *)");
        assert_eq!(aws("*/15 * * * *").unwrap(), "cron(0/15 * * * ? *)");
        assert_eq!(
            aws("0 9 * * 1-5").unwrap(),
            "cron(0 9 ? * MON,TUE,WED,THU,FRI *)"
        );
        assert_eq!(aws("30 1 1,15 * *").unwrap(), "cron(30 1 1,15 * ? *)");
        assert_eq!(aws("rate(1 hour)").unwrap(), "rate(1 hour)");
        assert_eq!(aws("rate(90 minutes)").unwrap(), "rate(90 minutes)");
        assert_eq!(aws("@every 2h").unwrap(), "rate(2 hours)");
        assert!(aws("0 0 15 * 1").unwrap_err().contains("both"));
        // What AWS reads back means the same as what was written.
        let round = parse(&aws("0 9 * * 1-5").unwrap()).unwrap();
        assert_eq!(round, parse("0 9 * * 1-5").unwrap());
    }

    #[test]
    fn errors_point_at_the_text_at_fault() {
        let error = |text: &str| parse(text).unwrap_err();
        let e = error("0 25 * * *");
        assert_eq!(e.at, 2..4);
        assert!(e.message.contains("hour"), "{}", e.message);
        let e = error("0 3 * * FUNDAY");
        assert_eq!(e.at, 8..14);
        assert!(e.message.contains("FUNDAY"));
        let e = error("0 3 * *");
        assert!(e.message.contains("4 fields"), "{}", e.message);
        let e = error("*/0 * * * *");
        assert_eq!(e.at, 0..3);
        let e = error("0 5-2 * * *");
        assert!(e.message.contains("backwards"));
        let e = error("rate(1 fortnight)");
        assert!(e.message.contains("fortnight"));
        let e = error("rate(0 hours)");
        assert!(e.message.contains("above zero"));
        let e = error("@sometimes");
        assert!(e.help.contains("@daily"));
        let e = error("cron(0 3 * * ? 2027)");
        assert!(e.message.contains("2027"));
        assert!(error("").message.contains("empty"));
        assert!(time_zone("Mars/Olympus").unwrap_err().contains("IANA"));
    }
}
