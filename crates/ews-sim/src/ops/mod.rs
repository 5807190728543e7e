//! One handler per EWS operation, over the store; requests are read and responses
//! written with the `ews` crate's types.

mod convert;
mod create_folder;
mod create_item;
mod delete_folder;
mod delete_item;
mod find_folder;
mod find_item;
mod get_folder;
mod get_item;
mod sync_folder_items;
mod update_item;

use ews::envelope::{Body, Header, ServerVersionInfo};
use ews::types::{BaseFolderId, MessageXml, ResponseMessage};

use crate::faults::Faults;
use crate::store::{EwsError, FolderRef, Mailbox, Store, ids};

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
    /// The whole response envelope.
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

impl Ctx<'_> {
    /// The mailbox a folder id lives in: the acting one, or the one named inside a
    /// DistinguishedFolderId (delegate access, full rights for service accounts only).
    fn folder_target(&self, id: &BaseFolderId) -> Result<(String, FolderRef), EwsError> {
        match id {
            BaseFolderId::FolderId(f) => {
                let mb = match ids::decode_folder(&f.id) {
                    Some(d) => self.mailbox_by_number(d.mailbox)?,
                    None => return Err(EwsError::id_malformed()),
                };
                Ok((mb, FolderRef::Id(f.id.clone())))
            }
            BaseFolderId::Distinguished(d) => {
                let owner = d
                    .mailbox
                    .as_ref()
                    .and_then(|m| m.email_address.as_deref())
                    .map(|e| e.trim().to_ascii_lowercase())
                    .unwrap_or_else(|| self.mailbox.clone());
                if self.store.mailbox(&owner).is_none() {
                    return Err(EwsError::non_existent_mailbox(&owner));
                }
                if owner != self.mailbox && owner != self.caller && !self.privileged {
                    return Err(EwsError::access_denied());
                }
                Ok((owner, FolderRef::Distinguished(d.id.clone())))
            }
        }
    }

    /// The address of mailbox number `n`, if the caller may open it.
    fn mailbox_by_number(&self, n: u32) -> Result<String, EwsError> {
        let mb = self
            .store
            .mailboxes
            .values()
            .find(|m| m.n == n)
            .ok_or_else(EwsError::item_not_found)?;
        if mb.email != self.mailbox && mb.email != self.caller && !self.privileged {
            return Err(EwsError::access_denied());
        }
        Ok(mb.email.clone())
    }

    /// The mailbox an ItemId belongs to (the acting one when the id is not ours).
    fn item_mailbox(&self, item_id: &str) -> Result<String, EwsError> {
        match ids::decode_item(item_id) {
            Some(d) if d.epoch == self.store.epoch => self.mailbox_by_number(d.mailbox),
            Some(_) => Err(EwsError::item_not_found()),
            None => Err(EwsError::id_malformed()),
        }
    }

    fn mb(&self, email: &str) -> &Mailbox {
        self.store.mailbox(email).expect("resolved before")
    }

    fn mb_mut(&mut self, email: &str) -> &mut Mailbox {
        self.store.mailbox_mut(email).expect("resolved before")
    }

    /// A per-item error injected through `/_sim/faults` for this item, if any.
    fn injected(&mut self, operation: &str, item_id: &str) -> Option<EwsError> {
        let mb = self.mailbox.clone();
        self.faults
            .take_item_error(operation, Some(&mb), item_id)
            .map(|code| EwsError::from_code(&code))
    }
}

/// Fills a response message's error fields from an [`EwsError`].
macro_rules! error_message {
    ($ty:ty, $e:expr) => {{
        let e: &crate::store::EwsError = $e;
        let mut m = <$ty>::error(e.code.clone(), e.message.clone());
        m.message_xml = crate::ops::back_off_xml(e);
        m
    }};
}
pub(crate) use error_message;

/// `m:MessageXml` with BackOffMilliseconds for throttling errors.
pub(crate) fn back_off_xml(e: &EwsError) -> Option<MessageXml> {
    e.back_off_ms
        .map(|ms| MessageXml::with_back_off(std::time::Duration::from_millis(ms)))
}

/// The first error code of a batch, or NoError.
fn outcome<M: ResponseMessage>(messages: &[M]) -> String {
    messages
        .iter()
        .map(|m| m.response_code().to_string())
        .find(|c| c != "NoError")
        .unwrap_or_else(|| "NoError".into())
}

fn server_version() -> ServerVersionInfo {
    ServerVersionInfo {
        major_version: Some(15),
        minor_version: Some(20),
        major_build_number: Some(8769),
        minor_build_number: Some(35),
        version: Some("V2018_01_08".into()),
    }
}

/// Writes a response body as a whole envelope with ServerVersionInfo, unindented as
/// Exchange writes it (indentation made a third of a GetItem answer's bytes).
fn respond(body: Body, outcome: String) -> Result<OpOutput, OpError> {
    let xml = ews::envelope::to_xml_compact(&Header::response(server_version()), &body)
        .map_err(|e| OpError::Fault(EwsError::new("ErrorInternalServerError", &e.0)))?;
    Ok(OpOutput { body: xml, outcome })
}

/// Reads the envelope with the `ews` types and runs the operation it carries.
pub fn dispatch(_operation: &str, xml: &str, ctx: &mut Ctx) -> Result<OpOutput, OpError> {
    let (header, body) = ews::envelope::parse(xml).map_err(|e| OpError::Unreadable(e.0.clone()))?;
    if let Some(v) = &header.request_server_version
        && !ews::envelope::EXCHANGE_VERSIONS.contains(&v.version.as_str())
    {
        return Err(OpError::Unreadable(format!(
            "The 'Version' attribute is invalid - The value '{}' is invalid according to its datatype 'http://schemas.microsoft.com/exchange/services/2006/types:ExchangeVersionType' - The Enumeration constraint failed.",
            v.version
        )));
    }
    match body {
        Body::GetFolder(r) => get_folder::handle(ctx, r),
        Body::FindFolder(r) => find_folder::handle(ctx, r),
        Body::CreateFolder(r) => create_folder::handle(ctx, r),
        Body::DeleteFolder(r) => delete_folder::handle(ctx, r),
        Body::SyncFolderItems(r) => sync_folder_items::handle(ctx, r),
        Body::GetItem(r) => get_item::handle(ctx, r),
        Body::FindItem(r) => find_item::handle(ctx, r),
        Body::CreateItem(r) => create_item::handle(ctx, r),
        Body::UpdateItem(r) => update_item::handle(ctx, r),
        Body::DeleteItem(r) => delete_item::handle(ctx, r),
        other => Err(OpError::Fault(EwsError::invalid_request(&format!(
            "{} is not a request this server handles",
            other.name()
        )))),
    }
}

/// The store's delete type for the wire one.
fn delete_type(d: ews::ops::DeleteType) -> crate::store::DeleteType {
    match d {
        ews::ops::DeleteType::HardDelete => crate::store::DeleteType::HardDelete,
        ews::ops::DeleteType::SoftDelete => crate::store::DeleteType::SoftDelete,
        ews::ops::DeleteType::MoveToDeletedItems => crate::store::DeleteType::MoveToDeletedItems,
    }
}
