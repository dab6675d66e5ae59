//! The routing table: which service a request belongs to (Host header and path prefix) and how
//! its traffic is split between the releases of that service. Pure data, persisted as JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::limits::Limits;

/// Everything the proxy must remember across a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// `project/env/app` → its route and releases.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Targets that passed a health gate; nothing else is ever routed to.
    #[serde(default)]
    pub gated: BTreeSet<String>,
    /// Hosts served over HTTPS (their certificates are files beside the table).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tls: BTreeMap<String, crate::tls::TlsSite>,
    /// Scopes in maintenance (`project/env`, or `project/env/app` for one app) → what their
    /// routes answer instead of forwarding.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub maintenance: BTreeMap<String, Maintenance>,
}

/// What the routes of a scope in maintenance answer: 503 with `Retry-After` and a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Maintenance {
    /// Shown to visitors (in the HTML page or the JSON answer).
    pub message: String,
    /// Seconds a client is told to wait before trying again (`Retry-After`).
    pub retry_after: u32,
    /// The project's own HTML page, served instead of the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// When it was turned on, in Unix seconds.
    #[serde(default)]
    pub since: u64,
}

/// A route (a host and a path prefix) and the releases that share its traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Matches the request's Host header (without port); `None` matches any host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Path prefix, e.g. `/api`; `/` matches everything.
    pub path: String,
    /// Its releases and their weights.
    pub groups: Vec<Group>,
    /// What its requests may be (body and head sizes) and how long they may take.
    #[serde(default, skip_serializing_if = "Limits::is_default")]
    pub limits: Limits,
}

/// One release's containers and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The release's name (`r3`).
    pub release: String,
    /// Relative weight; 0 keeps the release registered (for an instant switch back) but idle.
    pub weight: u32,
    /// `host:port` addresses, e.g. `shop-prod-api-r3-1:8000`.
    pub targets: Vec<String>,
}

impl Service {
    /// Targets of the releases that take traffic (weight above 0).
    pub fn routable_targets(&self) -> impl Iterator<Item = &String> {
        self.groups
            .iter()
            .filter(|g| g.weight > 0)
            .flat_map(|g| g.targets.iter())
    }

    /// A release and one of its targets for the request numbered `n`, skipping `avoid`.
    pub fn pick(&self, n: u64, avoid: &[String]) -> Option<(&str, &str)> {
        let usable = |g: &Group| g.weight > 0 && g.targets.iter().any(|t| !avoid.contains(t));
        let total: u64 = self
            .groups
            .iter()
            .filter(|g| usable(g))
            .map(|g| u64::from(g.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let mixed = splitmix64(n);
        let mut slot = mixed % total;
        for group in self.groups.iter().filter(|g| usable(g)) {
            let weight = u64::from(group.weight);
            if slot < weight {
                let targets: Vec<&String> = group
                    .targets
                    .iter()
                    .filter(|t| !avoid.contains(t))
                    .collect();
                let index = ((mixed >> 32) % targets.len() as u64) as usize;
                return Some((&group.release, targets[index]));
            }
            slot -= weight;
        }
        None
    }
}

impl Table {
    /// The service a request goes to: the longest matching path prefix, a service naming the
    /// request's host before one that takes any host.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<(&str, &Service)> {
        let host = host.map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name));
        self.services
            .iter()
            .filter(|(_, s)| match (&s.host, host) {
                (None, _) => true,
                (Some(wanted), Some(host)) => wanted.eq_ignore_ascii_case(host),
                (Some(_), None) => false,
            })
            .filter(|(_, s)| prefix_matches(&s.path, path))
            .max_by_key(|(_, s)| (s.path.trim_end_matches('/').len(), s.host.is_some()))
            .map(|(name, s)| (name.as_str(), s))
    }

    /// The maintenance a service is in: its own scope (`project/env/app`) before its
    /// environment's (`project/env`). A scope names whole segments: `shop/prod` does not put
    /// `shop/production/web` in maintenance.
    pub fn maintenance_of(&self, service: &str) -> Option<&Maintenance> {
        if self.maintenance.is_empty() {
            return None;
        }
        if let Some(own) = self.maintenance.get(service) {
            return Some(own);
        }
        let (environment, _app) = service.rsplit_once('/')?;
        self.maintenance.get(environment)
    }

    /// The scopes a `maintenance-off` of `scope` ends: `scope` itself, and with `within`
    /// every scope inside it (`shop/prod/api` inside `shop/prod`).
    pub fn maintenance_ended_by(&self, scope: &str, within: bool) -> Vec<String> {
        self.maintenance
            .keys()
            .filter(|key| {
                *key == scope
                    || (within
                        && key
                            .strip_prefix(scope)
                            .is_some_and(|rest| rest.starts_with('/')))
            })
            .cloned()
            .collect()
    }

    /// Targets of every service that take traffic.
    pub fn routable_targets(&self) -> BTreeSet<String> {
        self.services
            .values()
            .flat_map(|s| s.routable_targets().cloned())
            .collect()
    }

    /// Targets of every service, idle ones too.
    pub fn all_targets(&self) -> BTreeSet<String> {
        self.services
            .values()
            .flat_map(|s| s.groups.iter().flat_map(|g| g.targets.iter().cloned()))
            .collect()
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Spreads consecutive request numbers evenly over the weights.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(path: &str, host: Option<&str>, groups: &[(&str, u32, &[&str])]) -> Service {
        Service {
            host: host.map(str::to_owned),
            path: path.into(),
            groups: groups
                .iter()
                .map(|(release, weight, targets)| Group {
                    release: (*release).into(),
                    weight: *weight,
                    targets: targets.iter().map(|t| (*t).to_owned()).collect(),
                })
                .collect(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn the_longest_prefix_wins_and_a_named_host_beats_any_host() {
        let mut table = Table::default();
        table
            .services
            .insert("shop/prod/web".into(), service("/", None, &[]));
        table
            .services
            .insert("shop/prod/api".into(), service("/api", None, &[]));
        table.services.insert(
            "blog/prod/web".into(),
            service("/", Some("blog.example"), &[]),
        );
        let name = |host, path| table.route(host, path).map(|(n, _)| n);
        assert_eq!(name(None, "/api/health"), Some("shop/prod/api"));
        assert_eq!(name(None, "/api"), Some("shop/prod/api"));
        assert_eq!(name(None, "/apix"), Some("shop/prod/web"));
        assert_eq!(name(Some("blog.example:8090"), "/"), Some("blog/prod/web"));
        assert_eq!(name(Some("BLOG.example"), "/x"), Some("blog/prod/web"));
        assert_eq!(name(Some("shop.example"), "/"), Some("shop/prod/web"));
    }

    fn maintenance(message: &str) -> Maintenance {
        Maintenance {
            message: message.into(),
            retry_after: 60,
            page: None,
            since: 0,
        }
    }

    #[test]
    fn an_app_in_maintenance_before_its_environment_and_scopes_are_whole_segments() {
        let mut table = Table::default();
        table
            .maintenance
            .insert("shop/prod".into(), maintenance("whole env"));
        table
            .maintenance
            .insert("shop/prod/api".into(), maintenance("api only"));
        let message = |service| table.maintenance_of(service).map(|m| m.message.as_str());
        assert_eq!(message("shop/prod/api"), Some("api only"));
        assert_eq!(message("shop/prod/web"), Some("whole env"));
        assert_eq!(message("shop/production/web"), None);
        assert_eq!(message("shop/stage/web"), None);
        assert_eq!(message("blog/prod/web"), None);
        table.maintenance.remove("shop/prod");
        assert!(table.maintenance_of("shop/prod/web").is_none());
    }

    #[test]
    fn turning_an_environment_off_within_ends_its_apps_too() {
        let mut table = Table::default();
        for scope in [
            "shop/prod",
            "shop/prod/api",
            "shop/production",
            "shop/stage/api",
        ] {
            table.maintenance.insert(scope.into(), maintenance(scope));
        }
        assert_eq!(
            table.maintenance_ended_by("shop/prod", true),
            vec!["shop/prod".to_owned(), "shop/prod/api".to_owned()]
        );
        assert_eq!(
            table.maintenance_ended_by("shop/prod", false),
            vec!["shop/prod".to_owned()]
        );
        assert_eq!(
            table.maintenance_ended_by("shop/prod/web", false),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_table_written_before_maintenance_existed_still_reads() {
        let table: Table = serde_json::from_str(r#"{"services":{},"gated":["a:1"]}"#).unwrap();
        assert!(table.maintenance.is_empty());
        assert_eq!(
            serde_json::to_string(&table).unwrap(),
            r#"{"services":{},"gated":["a:1"]}"#
        );
    }

    #[test]
    fn traffic_follows_the_weights() {
        let s = service(
            "/",
            None,
            &[("r1", 90, &["a:1"]), ("r2", 10, &["b:1", "c:1"])],
        );
        let mut counts = BTreeMap::new();
        for n in 0..10_000 {
            let (release, _) = s.pick(n, &[]).unwrap();
            *counts.entry(release.to_owned()).or_insert(0) += 1;
        }
        let new = counts["r2"];
        assert!((800..1200).contains(&new), "r2 got {new} of 10000");
    }

    #[test]
    fn weight_zero_and_avoided_targets_get_nothing() {
        let s = service(
            "/",
            None,
            &[("r1", 0, &["a:1"]), ("r2", 1, &["b:1", "c:1"])],
        );
        for n in 0..1000 {
            let (release, target) = s.pick(n, &["b:1".into()]).unwrap();
            assert_eq!((release, target), ("r2", "c:1"));
        }
        assert_eq!(s.pick(0, &["b:1".into(), "c:1".into()]), None);
    }
}
