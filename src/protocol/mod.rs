//! The wire protocol below the schemas: framing, request and response
//! headers, and API version negotiation.
//!
//! The record batch codec and compression arrive with the producer.

pub(crate) mod frame;
pub(crate) mod versions;
