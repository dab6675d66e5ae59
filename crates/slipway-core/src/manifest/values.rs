//! Small value types of `slipway.toml` that accept more than one spelling.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A command: a string run by `/bin/sh -c`, or an argument vector run as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CommandLine {
    /// Run by `/bin/sh -c`.
    Shell(String),
    /// Run as is, the first element being the program.
    Exec(Vec<String>),
}

impl Default for CommandLine {
    fn default() -> Self {
        CommandLine::Exec(Vec::new())
    }
}

impl CommandLine {
    /// The argument vector to execute.
    pub fn argv(&self) -> Vec<String> {
        match self {
            CommandLine::Shell(script) => vec!["/bin/sh".into(), "-c".into(), script.clone()],
            CommandLine::Exec(args) => args.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for CommandLine {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CommandVisitor;
        impl<'de> Visitor<'de> for CommandVisitor {
            type Value = CommandLine;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command: a string, or an array of strings such as [\"python3\", \"-m\", \"api\"]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommandLine, E> {
                if v.trim().is_empty() {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                Ok(CommandLine::Shell(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CommandLine, A::Error> {
                let mut args = Vec::new();
                while let Some(arg) = seq.next_element::<String>()? {
                    args.push(arg);
                }
                if args.is_empty() {
                    return Err(de::Error::invalid_length(0, &self));
                }
                Ok(CommandLine::Exec(args))
            }
        }
        deserializer.deserialize_any(CommandVisitor)
    }
}

impl JsonSchema for CommandLine {
    fn schema_name() -> Cow<'static, str> {
        "CommandLine".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A command: a string run by /bin/sh -c, or an array of arguments.",
            "anyOf": [
                { "type": "string", "minLength": 1 },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 }
            ]
        })
    }
}

/// A length of time written as `500ms`, `30s`, `2m`, `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Reads `500ms`, `30s`, `2m`, `1h30m` (units `ms`, `s`, `m`, `h`, `d`); the error says how to
    /// write one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration `{text}`: write a number with a unit, e.g. `500ms`, `30s`, `2m`, `1h30m`"
            )
        };
        let mut total = std::time::Duration::ZERO;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            if digits == 0 {
                return Err(bad());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let part = match &rest[..unit_len] {
                "ms" => std::time::Duration::from_millis(number),
                "s" => std::time::Duration::from_secs(number),
                "m" => std::time::Duration::from_secs(number.saturating_mul(60)),
                "h" => std::time::Duration::from_secs(number.saturating_mul(3600)),
                "d" => std::time::Duration::from_secs(number.saturating_mul(86_400)),
                _ => return Err(bad()),
            };
            total = total.saturating_add(part);
            rest = &rest[unit_len..];
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if !millis.is_multiple_of(1000) {
            write!(f, "{millis}ms")
        } else {
            let secs = self.0.as_secs();
            match secs {
                s if s != 0 && s % 3600 == 0 => write!(f, "{}h", s / 3600),
                s if s != 0 && s % 60 == 0 => write!(f, "{}m", s / 60),
                s => write!(f, "{s}s"),
            }
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration in quotes such as \"30s\" or \"2m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DurationVisitor)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A length of time such as 500ms, 30s, 2m or 1h30m.",
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h|d))+$"
        })
    }
}

/// A size in bytes written as `512KB`, `10MB`, `1GB`. Units count in 1024s, as nginx and Docker
/// do (`1KB` is 1024 bytes); `KiB`, `MiB` and `GiB`, and the single letters `K`, `M`, `G`, are
/// the same units; `B` is bytes. Case does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Reads `512KB`, `10MB`, `1GB`, `100B`; the error says how to write one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid size `{text}`: write a whole number with a unit, e.g. `512KB`, `10MB`, `1GB` (1KB = 1024 bytes)"
            )
        };
        let trimmed = text.trim();
        let digits = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = trimmed[..digits].parse().map_err(|_| bad())?;
        let shift = match trimmed[digits..].trim().to_ascii_lowercase().as_str() {
            "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            _ => return Err(bad()),
        };
        number
            .checked_mul(1 << shift)
            .map(ByteSize)
            .ok_or_else(|| format!("invalid size `{text}`: too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        for (shift, unit) in [(30, "GB"), (20, "MB"), (10, "KB")] {
            if bytes != 0 && bytes.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", bytes >> shift);
            }
        }
        write!(f, "{bytes}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size in quotes such as \"10MB\" or \"512KB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(SizeVisitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A size such as 512KB, 10MB or 1GB (1KB = 1024 bytes).",
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*([bB]|[kKmMgG]([iI]?[bB])?)\\s*$"
        })
    }
}

/// A percentage written as `"1%"`, `"0.5%"` or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl Percent {
    /// Reads `"1%"`, `"0.5%"` or a number from 0 to 100; the error says what is allowed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let number = text.trim().trim_end_matches('%').trim();
        match number.parse::<f64>() {
            Ok(value) if (0.0..=100.0).contains(&value) => Ok(Percent(value)),
            _ => Err(format!(
                "invalid percentage `{text}`: write a number from 0 to 100, e.g. `\"1%\"` or `\"0.5%\"`"
            )),
        }
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PercentVisitor;
        impl Visitor<'_> for PercentVisitor {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage such as \"1%\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                Percent::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                Percent::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                Percent::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                Percent::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(PercentVisitor)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A percentage such as \"1%\" or \"0.5%\".",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%?$" },
                { "type": "number", "minimum": 0, "maximum": 100 }
            ]
        })
    }
}

/// One pipeline step: a built-in (`"build"`, `"deploy prod"`) or a command of your own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Step {
    /// A built-in step, e.g. `"deploy prod"`.
    Builtin(String),
    /// A command of your own.
    Run(RunStep),
}

/// A step that runs a command of your own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStep {
    /// Shown in the run's steps; default the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The command.
    pub run: CommandLine,
    /// Variables of the runner's environment this step gets besides the ones slipway gives
    /// each step, e.g. `["SMOKE_TOKEN"]`. Never the server's own secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step name such as \"build\" or \"deploy prod\", or a table { name = \"...\", run = [...] }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Step, E> {
                Ok(Step::Builtin(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Step, A::Error> {
                RunStep::deserialize(de::value::MapAccessDeserializer::new(map)).map(Step::Run)
            }
        }
        deserializer.deserialize_any(StepVisitor)
    }
}

impl JsonSchema for Step {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let run = generator.subschema_for::<RunStep>();
        json_schema!({
            "description": "A built-in step (build, push, lint, checks, pull-request, base build, base test, base push, base release, up ENV, test ENV, approve, deploy ENV, notify) or { name, run }.",
            "anyOf": [ { "type": "string" }, run ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_compound_units() {
        assert_eq!(Duration::parse("1h30m").unwrap().0.as_secs(), 5400);
        assert_eq!(Duration::parse("500ms").unwrap().0.as_millis(), 500);
        assert_eq!(Duration::parse("2m").unwrap().to_string(), "2m");
        for bad in ["", "5", "m", "5 minutes", "1.5s", "-1s"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes_count_in_1024s_and_say_how_to_write_one() {
        assert_eq!(ByteSize::parse("10MB").unwrap().0, 10 * 1024 * 1024);
        assert_eq!(ByteSize::parse("512kb").unwrap().0, 512 * 1024);
        assert_eq!(ByteSize::parse("1GiB").unwrap().0, 1 << 30);
        assert_eq!(ByteSize::parse("2 M").unwrap().0, 2 << 20);
        assert_eq!(ByteSize::parse("100B").unwrap().0, 100);
        assert_eq!(ByteSize::parse("0KB").unwrap().0, 0);
        assert_eq!(ByteSize::parse("32KB").unwrap().to_string(), "32KB");
        assert_eq!(ByteSize(1536).to_string(), "1536B");
        assert_eq!(ByteSize(3 << 30).to_string(), "3GB");
        for bad in [
            "",
            "ten",
            "10",
            "MB",
            "1.5MB",
            "-1MB",
            "10TB",
            "10 MB extra",
        ] {
            let error = ByteSize::parse(bad).unwrap_err();
            assert!(error.contains("e.g. `512KB`, `10MB`"), "{bad:?}: {error}");
        }
        assert!(
            ByteSize::parse("99999999999999GB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn percentages_accept_sign_and_reject_out_of_range() {
        assert_eq!(Percent::parse("1%").unwrap().0, 1.0);
        assert_eq!(Percent::parse("0.5").unwrap().0, 0.5);
        assert!(Percent::parse("150%").is_err());
        assert!(Percent::parse("lots").is_err());
    }
}
