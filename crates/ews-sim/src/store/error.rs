//! Per-item EWS errors (a ResponseCode with the text Exchange sends).

use serde::Serialize;

/// An EWS response code with its message, answered per item (HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EwsError {
    /// `m:ResponseCode`, e.g. `ErrorItemNotFound`.
    pub code: String,
    /// `m:MessageText`.
    pub message: String,
    /// `BackOffMilliseconds` in `m:MessageXml` (throttling only).
    pub back_off_ms: Option<u64>,
}

impl EwsError {
    /// Any code with any text.
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            code: code.to_string(),
            message: message.to_string(),
            back_off_ms: None,
        }
    }

    /// An injected per-item error with the text Exchange uses for well-known codes.
    pub fn from_code(code: &str) -> Self {
        match code {
            "ErrorItemNotFound" => Self::item_not_found(),
            "ErrorFolderNotFound" => Self::folder_not_found(),
            "ErrorAccessDenied" => Self::access_denied(),
            "ErrorIrresolvableConflict" => Self::irresolvable_conflict(),
            "ErrorInvalidSyncStateData" => Self::invalid_sync_state(),
            "ErrorServerBusy" => Self::server_busy(5000),
            "ErrorInternalServerError" => Self::new(
                code,
                "An internal server error occurred. The operation failed.",
            ),
            other => Self::new(other, "The operation failed (injected by the simulator)."),
        }
    }

    /// ErrorItemNotFound (also what Exchange says when the caller may not see the item).
    pub fn item_not_found() -> Self {
        Self::new(
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    /// ErrorFolderNotFound.
    pub fn folder_not_found() -> Self {
        Self::new(
            "ErrorFolderNotFound",
            "The specified folder could not be found in the store.",
        )
    }

    /// ErrorInvalidIdMalformed: the id is not one this server hands out.
    pub fn id_malformed() -> Self {
        Self::new("ErrorInvalidIdMalformed", "Id is malformed.")
    }

    /// ErrorAccessDenied.
    pub fn access_denied() -> Self {
        Self::new(
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    /// ErrorIrresolvableConflict (stale ChangeKey with NeverOverwrite).
    pub fn irresolvable_conflict() -> Self {
        Self::new(
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        )
    }

    /// ErrorChangeKeyRequiredForWriteOperations.
    pub fn change_key_required() -> Self {
        Self::new(
            "ErrorChangeKeyRequiredForWriteOperations",
            "ChangeKey is required for this operation.",
        )
    }

    /// ErrorInvalidSyncStateData.
    pub fn invalid_sync_state() -> Self {
        Self::new(
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
        )
    }

    /// ErrorCannotCreateContactInNonContactFolder.
    pub fn non_contact_folder() -> Self {
        Self::new(
            "ErrorCannotCreateContactInNonContactFolder",
            "Cannot create a contact in a non-contact Folder.",
        )
    }

    /// ErrorFolderExists.
    pub fn folder_exists() -> Self {
        Self::new(
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        )
    }

    /// ErrorDeleteDistinguishedFolder.
    pub fn delete_distinguished_folder() -> Self {
        Self::new(
            "ErrorDeleteDistinguishedFolder",
            "Distinguished folders cannot be deleted.",
        )
    }

    /// ErrorInvalidPropertyRequest.
    pub fn invalid_property(detail: &str) -> Self {
        Self::new(
            "ErrorInvalidPropertyRequest",
            &format!("The property request is invalid: {detail}"),
        )
    }

    /// ErrorInvalidPropertyDelete.
    pub fn invalid_property_delete(detail: &str) -> Self {
        Self::new(
            "ErrorInvalidPropertyDelete",
            &format!("This property cannot be deleted: {detail}"),
        )
    }

    /// ErrorServerBusy per item, with its back-off hint.
    pub fn server_busy(back_off_ms: u64) -> Self {
        Self {
            code: "ErrorServerBusy".into(),
            message: "The server cannot service this request right now. Try again later.".into(),
            back_off_ms: Some(back_off_ms),
        }
    }

    /// ErrorNonExistentMailbox.
    pub fn non_existent_mailbox(address: &str) -> Self {
        Self::new(
            "ErrorNonExistentMailbox",
            &format!("The SMTP address has no mailbox associated with it: {address}"),
        )
    }

    /// ErrorImpersonateUserDenied.
    pub fn impersonate_denied() -> Self {
        Self::new(
            "ErrorImpersonateUserDenied",
            "The account does not have permission to impersonate the requested user.",
        )
    }

    /// ErrorInvalidRequest.
    pub fn invalid_request(detail: &str) -> Self {
        Self::new(
            "ErrorInvalidRequest",
            &format!("The request is invalid: {detail}"),
        )
    }
}
