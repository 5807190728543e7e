//! One handler per EWS operation, over the store.

use crate::faults::Faults;
use crate::store::{EwsError, Store};

/// What an operation handler works with.
pub struct Ctx<'a> {
    /// The store (locked for the whole request).
    pub store: &'a mut Store,
    /// Injected faults (per-item errors, invalid sync states).
    pub faults: &'a mut Faults,
    /// The mailbox acted on (the caller's or the impersonated one).
    pub mailbox: String,
    /// The caller's own address.
    pub caller: String,
    /// True for service accounts (full access to every mailbox).
    pub privileged: bool,
}

/// A handled operation.
pub struct OpOutput {
    /// The serialized `m:<Operation>Response` element.
    pub body: String,
    /// `NoError` or the first per-item error code (for the request log).
    pub outcome: String,
}

/// Why an operation produced no response messages.
#[derive(Debug)]
pub enum OpError {
    /// The body could not be read as the operation's request (ErrorSchemaValidation).
    Unreadable(String),
    /// A whole-request error sent as a SOAP fault.
    Fault(EwsError),
}

/// Runs the operation named by the Body's element.
pub fn dispatch(operation: &str, _xml: &str, _ctx: &mut Ctx) -> Result<OpOutput, OpError> {
    Err(OpError::Fault(EwsError::invalid_request(&format!(
        "the operation {operation} is not supported by the simulator"
    ))))
}
