//! TLS and SASL: a client that verifies the brokers' certificate against its
//! own CA and authenticates with SCRAM-SHA-512 (PLAIN and SCRAM-SHA-256 are
//! configured the same way), then produces and reads back a record; a wrong
//! password fails with an error that says so.
//!
//! `cargo run --example tls_sasl` starts an in-process fake cluster that
//! serves TLS with the test certificates in `tests/certs/` (issued for
//! `localhost`) and requires SASL. It runs on the fake cluster only: with
//! `KAFKA_SEEDS` set it prints why and exits. For your own brokers, put
//! your CA, names and credentials in place of the test ones (kcli's
//! `--tls --ca --sasl-mechanism` flags do exactly this).

use std::time::Duration;

use kafka_sync::sasl::Scram;
use kafka_sync::{Client, ConfigBuilder, Offset, Record, TlsConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

// Test-only certificates; never use them elsewhere.
const CA: &[u8] = include_bytes!("../tests/certs/ca.pem");
#[cfg(feature = "fake")]
const CERT: &[u8] = include_bytes!("../tests/certs/server.pem");
#[cfg(feature = "fake")]
const KEY: &[u8] = include_bytes!("../tests/certs/server.key");

const TOPIC: &str = "secured";

/// `b` over TLS (trusting only our CA) with SCRAM-SHA-512.
fn secured(b: ConfigBuilder<Client>, user: &str, pass: &str) -> Result<ConfigBuilder<Client>> {
    let tls = TlsConfig::builder()
        .add_root_certificate_pem(CA)
        .disable_built_in_roots(true)
        // The brokers listen on 127.0.0.1, but their certificate names
        // localhost: verify against that name.
        .server_name("localhost")
        .build()?;
    Ok(b.tls(tls).sasl(Scram::sha512(user, pass)))
}

fn main() -> Result<()> {
    env_logger::init();
    if std::env::var("KAFKA_SEEDS").is_ok_and(|s| !s.trim().is_empty()) {
        println!("skipped: tls_sasl uses the test certificates, which only the fake cluster serves; unset KAFKA_SEEDS to run it");
        return Ok(());
    }
    #[cfg(feature = "fake")]
    {
        let cluster = kafka_sync::fake::Cluster::builder()
            .brokers(3)
            .topic(TOPIC, 3)
            .tls(CERT, KEY)
            .sasl_scram([("alice", "alice-secret")])
            .build()?;
        run(&cluster.seeds())
    }
    #[cfg(not(feature = "fake"))]
    {
        let _ = run;
        println!("skipped: the fake cluster needs the `fake` feature");
        Ok(())
    }
}

fn run(seeds: &[String]) -> Result<()> {
    let c = secured(
        Client::builder().seed_brokers(seeds.to_vec()),
        "alice",
        "alice-secret",
    )?
    .build()?;
    let meta = c.refresh_metadata(Some(&[TOPIC]))?;
    println!(
        "authenticated over TLS as alice; {} brokers",
        meta.brokers.len()
    );

    let r = Record::key_string("k", "over tls").with_topic(TOPIC);
    let written = c.produce_sync([r]);
    let at = written.first()?;
    println!(
        "produced to partition {} offset {}",
        at.partition, at.offset
    );
    c.close();

    let reader = secured(
        Client::builder().seed_brokers(seeds.to_vec()),
        "alice",
        "alice-secret",
    )?
    .consume_topics([TOPIC])
    .consume_reset_offset(Offset::new().at_start())
    .build()?;
    let fetches = reader.poll_fetches_timeout(Duration::from_secs(10));
    fetches.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
    let value = fetches.record_iter().next().and_then(|r| r.value.clone());
    reader.close();
    match value {
        Some(v) => println!("read it back: {:?}", String::from_utf8_lossy(&v)),
        None => return Err("the record did not come back within 10 s".into()),
    }

    let bad = secured(
        Client::builder().seed_brokers(seeds.to_vec()),
        "alice",
        "wrong",
    )?
    .request_retries(1)
    .build()?;
    match bad.refresh_metadata(Some(&[])) {
        Ok(_) => return Err("a wrong password was accepted".into()),
        Err(e) => println!("a wrong password is refused: {e}"),
    }
    bad.close();
    Ok(())
}
