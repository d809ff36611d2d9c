//! The fake cluster rejects what the Java broker rejects, with Java's error
//! codes: ApiVersions software names. One test per rule, driven by the raw
//! client in `support/fake_raw.rs`, not the crate's client.
#![cfg(feature = "fake")]

mod support;

use support::fake_raw::*;

use kafka_protocol::messages::*;
use kafka_sync::fake::Cluster;

const INVALID_REQUEST: i16 = 42;

fn cluster(brokers: i32) -> Cluster {
    Cluster::builder().brokers(brokers).build().unwrap()
}

fn conn(cluster: &Cluster) -> Conn {
    Conn::connect(&cluster.seeds()[0]).unwrap()
}

fn software(name: &str, version: &str) -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s(name))
        .with_client_software_version(s(version))
}

#[test]
fn api_versions_v3_rejects_software_names_java_rejects() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    let bad = [
        ("", "1.0"),
        ("kafka-sync", ""),
        ("-lead", "1"),
        ("trail-", "1"),
        ("a b", "1"),
        ("ok", "1.0."),
        ("ok", "1.0+build"),
        ("caf\u{e9}", "1"),
        ("under_score", "1"),
    ];
    for v in [3, 4] {
        for (name, version) in bad {
            let r = c.call(v, &software(name, version)).unwrap();
            assert_eq!(r.error_code, INVALID_REQUEST, "v{v} {name:?} {version:?}");
            // Java's getErrorResponse lists versions only for UNSUPPORTED_VERSION.
            assert!(r.api_keys.is_empty(), "v{v} {name:?} {version:?}");
        }
    }
    // The connection stays usable, and valid names are answered in full.
    for (name, version) in [("a", "9"), ("kafka-sync", "0.1.0"), ("A.b-9", "1-rc.2")] {
        let r = c.call(3, &software(name, version)).unwrap();
        assert_eq!(r.error_code, 0, "{name:?} {version:?}");
        assert!(!r.api_keys.is_empty());
    }
}

#[test]
fn api_versions_below_v3_carries_no_software_name_to_check() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    for v in 0..3 {
        let r = c.call(v, &ApiVersionsRequest::default()).unwrap();
        assert_eq!(r.error_code, 0, "v{v}");
        assert!(!r.api_keys.is_empty(), "v{v}");
    }
}
