//! Opaque ids, change keys and sync states, and their decoding.
//!
//! They are base64 (URL-safe alphabet, so they can appear in `/_sim` paths) of a small
//! binary record that names the store epoch and mailbox: an id from another mailbox
//! or from before a reset is then recognised as "not found", and garbage as malformed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;

const ITEM: u8 = b'I';
const FOLDER: u8 = b'F';
const STATE: u8 = b'S';

fn encode(kind: u8, epoch: u32, mailbox: u32, n: u64, extra: u64) -> String {
    let mut b = Vec::with_capacity(32);
    b.extend_from_slice(b"SIM");
    b.push(kind);
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&mailbox.to_be_bytes());
    b.extend_from_slice(&n.to_be_bytes());
    if kind == STATE {
        b.extend_from_slice(&extra.to_be_bytes());
        b.extend_from_slice(&checksum(&b).to_be_bytes());
    }
    URL_SAFE.encode(b)
}

/// FNV-1a, so that a hand-edited or truncated sync state is detected.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The parts of a decoded id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Store epoch (changes on reset).
    pub epoch: u32,
    /// Mailbox number.
    pub mailbox: u32,
    /// Object number (or, for sync states, the folder number).
    pub n: u64,
    /// Sync states: the change-log watermark.
    pub extra: u64,
}

fn decode(kind: u8, s: &str) -> Option<Decoded> {
    let b = URL_SAFE
        .decode(s.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(s.trim()))
        .ok()?;
    let want = if kind == STATE { 32 } else { 20 };
    if b.len() != want || &b[..3] != b"SIM" || b[3] != kind {
        return None;
    }
    let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
    let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap());
    let extra = if kind == STATE {
        if checksum(&b[..28]) != u32_at(28) {
            return None;
        }
        u64_at(20)
    } else {
        0
    };
    Some(Decoded {
        epoch: u32_at(4),
        mailbox: u32_at(8),
        n: u64_at(12),
        extra,
    })
}

/// An ItemId for item number `n`.
pub fn item_id(epoch: u32, mailbox: u32, n: u64) -> String {
    encode(ITEM, epoch, mailbox, n, 0)
}

/// A FolderId for folder number `n`.
pub fn folder_id(epoch: u32, mailbox: u32, n: u64) -> String {
    encode(FOLDER, epoch, mailbox, n, 0)
}

/// A SyncFolderItems state: folder number and change-log watermark.
pub fn sync_state(epoch: u32, mailbox: u32, folder_n: u64, watermark: u64) -> String {
    encode(STATE, epoch, mailbox, folder_n, watermark)
}

/// Decodes an ItemId; `None` when it is not one of ours at all.
pub fn decode_item(s: &str) -> Option<Decoded> {
    decode(ITEM, s)
}

/// Decodes a FolderId.
pub fn decode_folder(s: &str) -> Option<Decoded> {
    decode(FOLDER, s)
}

/// Decodes a sync state.
pub fn decode_sync_state(s: &str) -> Option<Decoded> {
    decode(STATE, s)
}

/// A ChangeKey for write number `seq`; opaque to clients, compared as a string.
pub fn change_key(epoch: u32, seq: u64) -> String {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(b"CQAA");
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_other_kinds() {
        let id = item_id(7, 2, 99);
        assert_eq!(decode_item(&id).unwrap().n, 99);
        assert!(decode_folder(&id).is_none());
        assert!(decode_item("ZmFrZS1pdGVtLTAwMDAwNQ==").is_none());
    }

    #[test]
    fn tampered_sync_state_is_rejected() {
        let s = sync_state(1, 1, 5, 1234);
        let d = decode_sync_state(&s).unwrap();
        assert_eq!((d.n, d.extra), (5, 1234));
        let mut bytes = URL_SAFE.decode(&s).unwrap();
        bytes[25] ^= 1;
        assert!(decode_sync_state(&URL_SAFE.encode(bytes)).is_none());
    }
}
