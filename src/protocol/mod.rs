//! The wire protocol below the schemas: framing, request and response
//! headers, API version negotiation, the record batch codec and compression.

pub(crate) mod api;
pub(crate) mod compression;
pub(crate) mod frame;
pub(crate) mod produce;
pub(crate) mod record_batch;
pub(crate) mod versions;
