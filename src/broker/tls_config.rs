//! TLS settings, turned into a `native_tls::TlsConnector` once at build time.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// TLS settings for broker connections.
///
/// Verification of the certificate chain and of the host name is on by
/// default. The SNI and verification name is [`server_name`](Self::server_name)
/// when set, else the host of the broker being dialed.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) connector: Arc<native_tls::TlsConnector>,
    pub(crate) server_name: Option<String>,
}

/// Builds a [`TlsConfig`].
#[must_use]
pub struct TlsConfigBuilder {
    inner: native_tls::TlsConnectorBuilder,
    server_name: Option<String>,
    error: Option<Error>,
}

impl fmt::Debug for TlsConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfigBuilder")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// The system's roots, full verification.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder {
            inner: native_tls::TlsConnector::builder(),
            server_name: None,
            error: None,
        }
    }

    /// The name used for SNI and verification, if fixed.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .field("identity", &"<redacted>")
            .finish()
    }
}

fn tls_err(what: &str, e: native_tls::Error) -> Error {
    Error::config(format!("tls: {what}: {e}"))
}

impl TlsConfigBuilder {
    /// Trusts a PEM-encoded CA certificate in addition to the system roots.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        match native_tls::Certificate::from_pem(pem) {
            Ok(c) => {
                self.inner.add_root_certificate(c);
            }
            Err(e) => self.error = self.error.or(Some(tls_err("root certificate", e))),
        }
        self
    }

    /// Presents a client certificate (PEM chain) with its PKCS#8 PEM key (mTLS).
    pub fn identity_pem(mut self, cert_pem: &[u8], key_pem: &[u8]) -> Self {
        match native_tls::Identity::from_pkcs8(cert_pem, key_pem) {
            Ok(id) => {
                self.inner.identity(id);
            }
            Err(e) => self.error = self.error.or(Some(tls_err("client identity", e))),
        }
        self
    }

    /// Fixes the name used for SNI and certificate verification.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Trusts only the added roots, not the system's.
    pub fn disable_built_in_roots(mut self, disable: bool) -> Self {
        self.inner.disable_built_in_roots(disable);
        self
    }

    /// Skips host name verification. Dangerous: only for tests.
    pub fn danger_accept_invalid_hostnames(mut self, accept: bool) -> Self {
        self.inner.danger_accept_invalid_hostnames(accept);
        self
    }

    /// Skips certificate verification entirely. Dangerous: only for tests.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.inner.danger_accept_invalid_certs(accept);
        self
    }

    /// Builds the TLS configuration.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a certificate or key did not parse or the TLS
    /// library rejects the settings.
    pub fn build(self) -> Result<TlsConfig> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let connector = self
            .inner
            .build()
            .map_err(|e| tls_err("building connector", e))?;
        Ok(TlsConfig {
            connector: Arc::new(connector),
            server_name: self.server_name,
        })
    }
}
