//! The routing table: which service a request belongs to (Host header and path prefix) and how
//! its traffic is split between the releases of that service. Pure data, persisted as JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

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
