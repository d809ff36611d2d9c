//! A small hand-rolled argument parser: flags in any order, `--flag value`
//! or `--flag=value`, and the flags every subcommand shares (brokers, TLS,
//! SASL).

use std::collections::VecDeque;
use std::str::FromStr;

use kafka_sync::sasl::{Plain, Scram};
use kafka_sync::{Client, ConfigBuilder, TlsConfig};

use crate::Result;

/// The words after the subcommand.
pub struct Args {
    words: VecDeque<String>,
    /// The subcommand, for error messages ("kcli produce").
    pub cmd: &'static str,
}

impl Args {
    pub fn new(cmd: &'static str, words: impl IntoIterator<Item = String>) -> Args {
        Args {
            words: words.into_iter().collect(),
            cmd,
        }
    }

    /// The next flag, with any `=value` split off and kept for [`value`](Self::value).
    pub fn next_flag(&mut self) -> Option<String> {
        let w = self.words.pop_front()?;
        if let Some((flag, value)) = w.split_once('=').filter(|_| w.starts_with("--")) {
            self.words.push_front(value.to_string());
            return Some(flag.to_string());
        }
        Some(w)
    }

    /// The value of `flag`.
    pub fn value(&mut self, flag: &str) -> Result<String> {
        self.words
            .pop_front()
            .ok_or_else(|| format!("{flag} needs a value; see `kcli {} --help`", self.cmd).into())
    }

    /// The value of `flag`, parsed; `what` says what is expected.
    pub fn parse<T: FromStr>(&mut self, flag: &str, what: &str) -> Result<T> {
        let v = self.value(flag)?;
        v.parse().map_err(|_| {
            format!(
                "{flag} {v:?}: expected {what}; see `kcli {} --help`",
                self.cmd
            )
            .into()
        })
    }

    /// The error for a flag no one took.
    pub fn unknown(&self, flag: &str) -> Box<dyn std::error::Error> {
        format!(
            "unknown flag {flag:?} for `kcli {}`; see `kcli {} --help`",
            self.cmd, self.cmd
        )
        .into()
    }
}

/// Where the brokers are and how to reach them: the flags all subcommands take.
#[derive(Default)]
pub struct Conn {
    brokers: Option<String>,
    /// Start an embedded fake cluster instead of connecting anywhere.
    pub fake: bool,
    tls: bool,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    server_name: Option<String>,
    mechanism: Option<String>,
    user: Option<String>,
    pass: Option<String>,
}

/// The help text of the shared flags.
pub const CONN_HELP: &str = "\
Connection (every subcommand):
  -b, --brokers HOST:PORT[,..]  seed brokers (default: $KAFKA_SEEDS)
      --fake                    start an embedded fake cluster of 3 brokers for this command
      --tls                     connect with TLS (system roots; --ca adds one)
      --ca FILE                 trust this PEM CA certificate (implies --tls)
      --cert FILE --key FILE    present this PEM client certificate and PKCS#8 key (mTLS)
      --tls-server-name NAME    verify the brokers' certificates against NAME
      --sasl-mechanism MECH     PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
      --sasl-user USER --sasl-pass PASS
";

impl Conn {
    /// Takes `flag` (and its value) if it is a connection flag.
    pub fn take(&mut self, flag: &str, args: &mut Args) -> Result<bool> {
        match flag {
            "-b" | "--brokers" => self.brokers = Some(args.value(flag)?),
            "--fake" => self.fake = true,
            "--tls" => self.tls = true,
            "--ca" => self.ca = Some(args.value(flag)?),
            "--cert" => self.cert = Some(args.value(flag)?),
            "--key" => self.key = Some(args.value(flag)?),
            "--tls-server-name" => self.server_name = Some(args.value(flag)?),
            "--sasl-mechanism" => self.mechanism = Some(args.value(flag)?),
            "--sasl-user" => self.user = Some(args.value(flag)?),
            "--sasl-pass" => self.pass = Some(args.value(flag)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The seed brokers: `--brokers`, else `KAFKA_SEEDS`.
    pub fn seeds(&self) -> Option<Vec<String>> {
        let s = self
            .brokers
            .clone()
            .or_else(|| std::env::var("KAFKA_SEEDS").ok())?;
        let seeds: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (!seeds.is_empty()).then_some(seeds)
    }

    /// A client builder for `seeds` with the TLS and SASL settings.
    pub fn builder(&self, seeds: Vec<String>) -> Result<ConfigBuilder<Client>> {
        let mut b = Client::builder()
            .seed_brokers(seeds)
            .client_id(Some("kcli"));
        let read = |what: &str, path: &str| {
            std::fs::read(path).map_err(|e| format!("reading the {what} {path}: {e}"))
        };
        if self.tls || self.ca.is_some() || self.cert.is_some() || self.server_name.is_some() {
            let mut tls = TlsConfig::builder();
            if let Some(ca) = &self.ca {
                tls = tls.add_root_certificate_pem(&read("CA certificate (--ca)", ca)?);
            }
            match (&self.cert, &self.key) {
                (Some(c), Some(k)) => {
                    tls = tls
                        .identity_pem(&read("certificate (--cert)", c)?, &read("key (--key)", k)?)
                }
                (None, None) => {}
                _ => {
                    return Err(
                        "--cert and --key go together (a PEM certificate and its PKCS#8 key)"
                            .into(),
                    )
                }
            }
            if let Some(name) = &self.server_name {
                tls = tls.server_name(name.clone());
            }
            b = b.tls(tls.build()?);
        }
        if let Some(m) = &self.mechanism {
            let (Some(user), Some(pass)) = (self.user.clone(), self.pass.clone()) else {
                return Err(
                    format!("--sasl-mechanism {m} needs --sasl-user and --sasl-pass").into(),
                );
            };
            b = match m.to_ascii_uppercase().as_str() {
                "PLAIN" => b.sasl(Plain::new(user, pass)),
                "SCRAM-SHA-256" => b.sasl(Scram::sha256(user, pass)),
                "SCRAM-SHA-512" => b.sasl(Scram::sha512(user, pass)),
                _ => {
                    return Err(format!(
                        "--sasl-mechanism {m:?}: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                    )
                    .into())
                }
            };
        } else if self.user.is_some() || self.pass.is_some() {
            return Err("--sasl-user and --sasl-pass need --sasl-mechanism PLAIN|SCRAM-SHA-256|SCRAM-SHA-512".into());
        }
        Ok(b)
    }
}
