//! Bounds and combination checks for [`Config`], run by `build()`.

use std::time::Duration;

use super::Config;
use crate::error::{Error, Result};

/// Checks every option, normalizes seeds (adds the default port), and returns
/// the first problem as [`Error::Config`] naming the option.
///
/// The checks run in a fixed order (seeds, client timings, client limits and
/// identity, producer, consumer, SASL), so the error for a config with
/// several problems is always the same one.
pub(super) fn validate(cfg: &mut Config) -> Result<()> {
    normalize_seeds(cfg)?;
    check_client_durations(cfg)?;
    check_client(cfg)?;
    cfg.producer.validate(cfg.broker_max_write_bytes)?;
    cfg.consumer.validate()?;
    check_group(cfg)?;
    check_sasl(cfg)
}

/// Group options need a group; a group consumes topics, not fixed partitions.
fn check_group(cfg: &Config) -> Result<()> {
    cfg.group_settings().validate(cfg.group_option_set)?;
    if cfg.group.enabled() && !cfg.consumer.partitions.is_empty() {
        return Err(Error::config(
            "consume_partitions: incompatible with consumer_group (a group assigns partitions)",
        ));
    }
    Ok(())
}

/// Requires at least one seed broker and normalizes each with [`normalize_seed`].
fn normalize_seeds(cfg: &mut Config) -> Result<()> {
    if cfg.seed_brokers.is_empty() {
        return Err(Error::config(
            "seed_brokers: at least one seed broker is required",
        ));
    }
    let mut seeds = Vec::with_capacity(cfg.seed_brokers.len());
    for s in &cfg.seed_brokers {
        seeds.push(normalize_seed(s)?);
    }
    cfg.seed_brokers = seeds;
    Ok(())
}

/// The client's timeouts and metadata ages: each within its bounds, and the
/// metadata min age not above the max age.
fn check_client_durations(cfg: &Config) -> Result<()> {
    let durations: [(&str, Duration, Duration, Duration); 5] = [
        (
            "request_timeout_overhead",
            cfg.request_timeout_overhead,
            Duration::from_millis(100),
            Duration::from_secs(15 * 60),
        ),
        (
            "conn_idle_timeout",
            cfg.conn_idle_timeout,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        ),
        (
            "metadata_max_age",
            cfg.metadata_max_age,
            Duration::from_secs(1),
            Duration::from_secs(7 * 24 * 3600),
        ),
        (
            "metadata_min_age",
            cfg.metadata_min_age,
            Duration::from_millis(10),
            Duration::from_secs(24 * 3600),
        ),
        (
            "dial_timeout",
            cfg.dial_timeout,
            Duration::from_millis(10),
            Duration::from_secs(3600),
        ),
    ];
    for (name, v, min, max) in durations {
        if v < min || v > max {
            return Err(Error::config(format!(
                "{name}: {v:?} is outside the allowed range {min:?} to {max:?}"
            )));
        }
    }
    if cfg.metadata_min_age > cfg.metadata_max_age {
        return Err(Error::config(format!(
            "metadata_min_age ({:?}) must not exceed metadata_max_age ({:?})",
            cfg.metadata_min_age, cfg.metadata_max_age
        )));
    }
    Ok(())
}

/// The client's request limits and retries, its identity (client id,
/// KIP-511 software name and version) and its pinned version ranges.
fn check_client(cfg: &Config) -> Result<()> {
    for (name, v) in [
        ("broker_max_read_bytes", cfg.broker_max_read_bytes),
        ("broker_max_write_bytes", cfg.broker_max_write_bytes),
    ] {
        if v < 1 << 10 {
            return Err(Error::config(format!(
                "{name}: {v} is below the minimum of 1024 bytes"
            )));
        }
    }
    if cfg.request_retries == 0 {
        return Err(Error::config(
            "request_retries: must be at least 1 (one try)",
        ));
    }
    if let Some(id) = &cfg.client_id {
        if id.len() > i16::MAX as usize {
            return Err(Error::config("client_id: longer than 32767 bytes"));
        }
    }
    check_software("software_name_and_version (name)", &cfg.software_name)?;
    check_software("software_name_and_version (version)", &cfg.software_version)?;
    if let (Some(min), Some(max)) = (&cfg.min_versions, &cfg.max_versions) {
        for (k, lo) in &min.by_key {
            if let Some(hi) = max.get(*k) {
                if *lo > hi {
                    return Err(Error::config(format!(
                        "min_versions: key {k} has min {lo} above max_versions {hi}"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Each SASL mechanism configured at most once.
fn check_sasl(cfg: &Config) -> Result<()> {
    let mut names = std::collections::HashSet::new();
    for m in &cfg.sasl {
        if !names.insert(m.name().to_string()) {
            return Err(Error::config(format!(
                "sasl: mechanism {} configured twice",
                m.name()
            )));
        }
    }
    Ok(())
}

/// `host` -> `host:9092`; `host:port` kept; `[v6]:port` kept; rejects empty
/// hosts and bad ports.
pub(crate) fn normalize_seed(seed: &str) -> Result<String> {
    let s = seed.trim();
    let bad = |why: &str| Error::config(format!("seed_brokers: {seed:?} {why}"));
    if s.is_empty() {
        return Err(bad("is empty"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').ok_or_else(|| bad("has an unclosed '['"))?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (format!("[{host}]"), Some(p)),
            None if after.is_empty() => (format!("[{host}]"), None),
            None => return Err(bad("has text after ']'")),
        }
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 address without a port.
        (format!("[{s}]"), None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(bad("has no host"));
    }
    let port: u16 = match port {
        None => 9092,
        Some(p) => p
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("has an invalid port"))?,
    };
    Ok(format!("{host}:{port}"))
}

/// KIP-511's pattern: `[a-zA-Z0-9](?:[a-zA-Z0-9\.-]*[a-zA-Z0-9])?`.
fn check_software(name: &str, v: &str) -> Result<()> {
    let b = v.as_bytes();
    let ok_end = |c: &u8| c.is_ascii_alphanumeric();
    let ok_mid = |c: &u8| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'-';
    let valid = match b {
        [] => false,
        [one] => ok_end(one),
        [first, mid @ .., last] => ok_end(first) && ok_end(last) && mid.iter().all(ok_mid),
    };
    if valid {
        Ok(())
    } else {
        Err(Error::config(format!(
            "{name}: {v:?} must match [a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Versions;

    fn build(f: impl FnOnce(crate::ConfigBuilder) -> crate::ConfigBuilder) -> Result<Config> {
        f(Config::builder()).build()
    }

    #[test]
    fn defaults_are_kgo_defaults() {
        let c = build(|b| b).unwrap();
        assert_eq!(c.seed_brokers(), ["127.0.0.1:9092"]);
        assert_eq!(c.request_retries(), 20);
        assert_eq!(c.request_timeout_overhead(), Duration::from_secs(10));
        assert_eq!(c.conn_idle_timeout(), Duration::from_secs(20));
        assert_eq!(c.metadata_max_age(), Duration::from_secs(300));
        assert_eq!(c.metadata_min_age(), Duration::from_secs(5));
        assert_eq!(c.broker_max_read_bytes(), 100 << 20);
        assert_eq!(c.broker_max_write_bytes(), 100 << 20);
        assert_eq!(c.retry_timeout(11), Duration::from_secs(45));
        assert_eq!(c.retry_timeout(12), Duration::from_secs(45));
        assert_eq!(c.retry_timeout(14), Duration::from_secs(45));
        assert_eq!(c.retry_timeout(3), Duration::from_secs(30));
        assert!(!c.allow_auto_topic_creation());
    }

    #[test]
    fn seeds_normalize() {
        let table = [
            ("localhost", Some("localhost:9092")),
            ("localhost:9093", Some("localhost:9093")),
            (" 10.0.0.1 ", Some("10.0.0.1:9092")),
            ("::1", Some("[::1]:9092")),
            ("[::1]:9000", Some("[::1]:9000")),
            ("[::1]", Some("[::1]:9092")),
            ("", None),
            (":9092", None),
            ("host:0", None),
            ("host:99999", None),
            ("host:abc", None),
            ("[::1", None),
            ("[::1]x", None),
        ];
        for (input, want) in table {
            match (normalize_seed(input), want) {
                (Ok(got), Some(w)) => assert_eq!(got, w, "{input}"),
                (Err(e), None) => assert!(e.to_string().contains("seed_brokers"), "{e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn validation_table() {
        type Case = (
            &'static str,
            fn(crate::ConfigBuilder) -> crate::ConfigBuilder,
        );
        let bad: Vec<Case> = vec![
            ("seed_brokers", |b| b.seed_brokers(Vec::<String>::new())),
            ("seed_brokers", |b| b.seed_brokers(["h:x"])),
            ("request_timeout_overhead", |b| {
                b.request_timeout_overhead(Duration::from_millis(5))
            }),
            ("conn_idle_timeout", |b| {
                b.conn_idle_timeout(Duration::from_millis(5))
            }),
            ("metadata_max_age", |b| {
                b.metadata_max_age(Duration::from_millis(5))
            }),
            ("metadata_min_age", |b| {
                b.metadata_min_age(Duration::from_millis(1))
            }),
            ("metadata_min_age", |b| {
                b.metadata_min_age(Duration::from_secs(60))
                    .metadata_max_age(Duration::from_secs(10))
            }),
            ("broker_max_read_bytes", |b| b.broker_max_read_bytes(10)),
            ("broker_max_write_bytes", |b| b.broker_max_write_bytes(-1)),
            ("request_retries", |b| b.request_retries(0)),
            ("software_name_and_version", |b| {
                b.software_name_and_version("", "1")
            }),
            ("software_name_and_version", |b| {
                b.software_name_and_version("a b", "1")
            }),
            ("software_name_and_version", |b| {
                b.software_name_and_version("ok", "1.0-")
            }),
            ("min_versions", |b| {
                b.min_versions(Versions::new().with(3, 9))
                    .max_versions(Versions::new().with(3, 4))
            }),
            ("dial_timeout", |b| b.dial_timeout(Duration::ZERO)),
        ];
        for (name, f) in bad {
            let e = build(f).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{name}: {e:?}");
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        let good: Vec<fn(crate::ConfigBuilder) -> crate::ConfigBuilder> = vec![
            |b| b.software_name_and_version("my-app", "1.2.3"),
            |b| b.software_name_and_version("a", "9"),
            |b| b.retry_timeout(Duration::ZERO),
            |b| b.seed_brokers(["a", "b:1", "[::1]:2"]),
        ];
        for f in good {
            build(f).unwrap();
        }
    }

    #[test]
    fn retry_timeout_fn_wins() {
        let c = build(|b| {
            b.retry_timeout(Duration::from_secs(1))
                .retry_timeout_fn(|k| Duration::from_secs(k as u64))
        })
        .unwrap();
        assert_eq!(c.retry_timeout(7), Duration::from_secs(7));
        let c = build(|b| b.retry_timeout(Duration::from_secs(1))).unwrap();
        assert_eq!(c.retry_timeout(11), Duration::from_secs(1));
    }
}
