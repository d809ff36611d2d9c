//! kcli: a kcat-like command line tool built on kafka-sync.
//!
//! ```text
//! cargo run --example kcli -- --help
//! cargo run --example kcli -- metadata --fake              # try it on an embedded fake cluster
//! seq 100 | kcli produce -b 127.0.0.1:9092 -t numbers      # one record per line
//! kcli consume -b 127.0.0.1:9092 -t numbers -e -f '%p@%o %v\n'
//! kcli offsets -t numbers --group billing
//! kcli groups; kcli groups describe billing
//! ```
//!
//! Seeds come from `--brokers` or `KAFKA_SEEDS`; `--tls --ca --cert --key`
//! and `--sasl-mechanism --sasl-user --sasl-pass` secure the connection.
//! Records are read and printed with kgo's layout language
//! ([`RecordReader`](kafka_sync::RecordReader),
//! [`RecordFormatter`](kafka_sync::RecordFormatter)).

mod admin;
mod args;
mod consume;
mod produce;

use std::process::ExitCode;

use kafka_sync::{Client, ConfigBuilder};

use args::{Args, Conn};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "\
kcli: produce, consume and inspect Kafka topics (kafka-sync's kcat)

Usage: kcli <subcommand> [flags]   (kcli <subcommand> --help for its flags)

Subcommands:
  produce    records from stdin, one per layout match (default: one per line)
  consume    records to stdout, directly or in a group, formatted by a layout
  metadata   brokers, the controller, topics with partitions, leaders and ISR
  offsets    start, end and (with --group) committed offsets of topics
  groups     list groups, or describe some: kcli groups describe G [G..]

Seeds come from --brokers or $KAFKA_SEEDS; --fake starts an embedded fake
cluster for the one command (its data goes when kcli exits).
";

/// The brokers a command talks to; keeps an embedded fake cluster alive.
pub struct Session {
    seeds: Vec<String>,
    conn: Conn,
    #[allow(dead_code)] // held so the fake cluster serves until kcli exits
    fake: Option<kafka_sync::fake::Cluster>,
}

impl Session {
    /// Connects as `conn` says: its seeds, or a fake cluster with `--fake`.
    pub fn open(conn: Conn) -> Result<Session> {
        if conn.fake {
            let cluster = kafka_sync::fake::Cluster::builder().brokers(3).build()?;
            eprintln!(
                "kcli: started a fake cluster at {}",
                cluster.seeds().join(",")
            );
            return Ok(Session {
                seeds: cluster.seeds(),
                conn,
                fake: Some(cluster),
            });
        }
        let Some(seeds) = conn.seeds() else {
            return Err(
                "no brokers: pass --brokers HOST:PORT[,HOST:PORT..] or set KAFKA_SEEDS \
                        (or add --fake to try kcli on an embedded fake cluster)"
                    .into(),
            );
        };
        Ok(Session {
            seeds,
            conn,
            fake: None,
        })
    }

    /// A client builder for the session's brokers, TLS and SASL included.
    pub fn builder(&self) -> Result<ConfigBuilder<Client>> {
        self.conn.builder(self.seeds.clone())
    }

    /// The seed list, for messages.
    pub fn seeds(&self) -> String {
        self.seeds.join(",")
    }
}

/// Parses a subcommand's flags with `take`, handling the connection flags
/// and `--help`; returns the session, or `None` when help was printed.
pub fn parse(
    args: &mut Args,
    help: &str,
    mut take: impl FnMut(&str, &mut Args) -> Result<bool>,
) -> Result<Option<Session>> {
    let mut conn = Conn::default();
    while let Some(flag) = args.next_flag() {
        if flag == "-h" || flag == "--help" {
            print!("{help}\n{}", args::CONN_HELP);
            return Ok(None);
        }
        if !conn.take(&flag, args)? && !take(&flag, args)? {
            return Err(args.unknown(&flag));
        }
    }
    Session::open(conn).map(Some)
}

fn main() -> ExitCode {
    env_logger::init();
    let mut words = std::env::args().skip(1);
    let Some(cmd) = words.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let res = match cmd.as_str() {
        "produce" => produce::run(Args::new("produce", words)),
        "consume" => consume::run(Args::new("consume", words)),
        "metadata" => admin::metadata(Args::new("metadata", words)),
        "offsets" => admin::offsets(Args::new("offsets", words)),
        "groups" => admin::groups(Args::new("groups", words)),
        "-h" | "--help" | "help" => {
            print!("{USAGE}\n{}", args::CONN_HELP);
            Ok(())
        }
        other => Err(format!("unknown subcommand {other:?}; run `kcli --help`").into()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcli {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
