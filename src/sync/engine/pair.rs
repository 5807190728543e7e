//! The pairing decisions: pure functions, with a test per row (like `plan`). The engine
//! gathers what they need (links, stamps, folders, the export scope); these say what it
//! means.
use uuid::Uuid;

use crate::store::sync_state::CrmMove;

/// Our own write coming back in a feed: its ChangeKey is the one its link recorded (an
/// echo is skipped without a read).
pub(super) fn is_echo(link_change_key: Option<&str>, change_key: &str) -> bool {
    !change_key.is_empty() && link_change_key == Some(change_key)
}

/// What an item a feed delivered is to the pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ItemPairing {
    /// Its own ItemId is linked.
    Linked,
    /// It carries the stamp of a pair whose linked item is gone: the pair follows the
    /// item (a move between folders, or a recreate).
    Moved,
    /// It carries the stamp of a pair whose linked item is still there: a copy, which is
    /// a new contact.
    Copy,
    /// Neither linked nor stamped with a linked pair.
    New,
}

/// Link, stamp, move or copy: `stamped_pair_item_gone` is `None` when the item's stamp
/// names no linked pair, else whether that pair's item is gone.
pub(super) fn item_pairing(own_link: bool, stamped_pair_item_gone: Option<bool>) -> ItemPairing {
    match (own_link, stamped_pair_item_gone) {
        (true, _) => ItemPairing::Linked,
        (false, Some(true)) => ItemPairing::Moved,
        (false, Some(false)) => ItemPairing::Copy,
        (false, None) => ItemPairing::New,
    }
}

/// The CRM contact found for a new, unlinked item (by stamp, e-mail, name and company).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    /// The item carries this contact's `CrmContactId`: it was ours.
    pub stamped_with_it: bool,
    pub in_export_scope: bool,
    pub deleted: bool,
}

/// Whether a new item is in play for this run, and pairs with the contact found for it.
/// Only an import folder brings new contacts in; outside one, an item stamped with the
/// contact's id (ours, wherever it is) or a match in the export target of a contact this
/// run exports (SPEC §5 "one person, one item", import on or off) still pairs. Otherwise
/// the contact stays free for the CRM phase, else it would be neither linked nor exported.
pub(super) fn new_item_pairs(
    in_import_folder: bool,
    in_export_target: bool,
    exporting: bool,
    found: Option<Found>,
) -> bool {
    match found {
        None => in_import_folder,
        Some(f) => {
            in_import_folder
                || (!f.deleted
                    && (f.stamped_with_it || (in_export_target && exporting && f.in_export_scope)))
        }
    }
}

/// Whether an unlinked item matched for a CRM contact to export is taken: an item of the
/// export target (any match), or elsewhere only one stamped with this contact's id (the
/// listing of other folders after lost links brings stamped items only).
pub(super) fn export_match_taken(
    item_folder: &str,
    target_folder: &str,
    item_stamp: Option<Uuid>,
    contact: Uuid,
) -> bool {
    in_export_target(item_folder, target_folder) || item_stamp == Some(contact)
}

/// Whether an unlinked item found for the CRM phase sits in the export target (one with
/// no folder recorded counts as the target's, as `export_match_taken` always took it).
pub(super) fn in_export_target(item_folder: &str, target_folder: &str) -> bool {
    item_folder.is_empty() || item_folder == target_folder
}

/// Whether the CRM phase plans a contact that the database reports as moved: a linked one
/// whose version or export scope changed; an unlinked one (never linked) in scope when
/// this run exports; a detached one (unlinked by policy) only when it left the export
/// scope and came back (SPEC §5 "leaving and re-entering").
pub(super) fn crm_contact_planned(m: &CrmMove, in_export_scope: bool, exporting: bool) -> bool {
    match m.link {
        Some((_, was_in_scope, true)) => !was_in_scope && in_export_scope && exporting,
        Some((version, was_in_scope, false)) => {
            version != m.version || was_in_scope != in_export_scope
        }
        None => !m.deleted && in_export_scope && exporting,
    }
}

/// Whether a contact's link still holds in the CRM phase. A detached link is history:
/// a contact back in scope pairs again as new (with its old item when that still exists).
pub(super) fn link_holds(detached: bool, in_export_scope: bool, deleted: bool) -> bool {
    !detached || !in_export_scope || deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_is_our_change_key_and_nothing_else() {
        assert!(is_echo(Some("ck1"), "ck1"));
        assert!(!is_echo(Some("ck1"), "ck2"));
        assert!(!is_echo(None, "ck1"));
        // An empty ChangeKey (a pair recorded as never merged) is never an echo.
        assert!(!is_echo(Some(""), ""));
    }

    #[test]
    fn an_item_with_its_own_link_is_linked_whatever_its_stamp_says() {
        assert_eq!(item_pairing(true, None), ItemPairing::Linked);
        assert_eq!(item_pairing(true, Some(true)), ItemPairing::Linked);
        assert_eq!(item_pairing(true, Some(false)), ItemPairing::Linked);
    }

    #[test]
    fn a_stamp_whose_item_is_gone_is_a_move() {
        assert_eq!(item_pairing(false, Some(true)), ItemPairing::Moved);
    }

    #[test]
    fn a_stamp_whose_item_is_still_there_is_a_copy() {
        assert_eq!(item_pairing(false, Some(false)), ItemPairing::Copy);
    }

    #[test]
    fn no_link_and_no_linked_stamp_is_new() {
        assert_eq!(item_pairing(false, None), ItemPairing::New);
    }

    const CONTACT: Found = Found {
        stamped_with_it: false,
        in_export_scope: true,
        deleted: false,
    };

    #[test]
    fn a_new_item_alone_is_in_play_only_in_an_import_folder() {
        assert!(new_item_pairs(true, false, true, None));
        assert!(!new_item_pairs(false, true, true, None));
    }

    #[test]
    fn a_match_in_an_import_folder_pairs_even_a_deleted_contact() {
        assert!(new_item_pairs(true, false, false, Some(CONTACT)));
        let deleted = Found {
            deleted: true,
            ..CONTACT
        };
        assert!(new_item_pairs(true, false, false, Some(deleted)));
    }

    #[test]
    fn outside_the_import_folders_a_stamped_item_pairs_with_its_contact() {
        let stamped = Found {
            stamped_with_it: true,
            in_export_scope: false,
            ..CONTACT
        };
        assert!(new_item_pairs(false, false, false, Some(stamped)));
        let deleted = Found {
            deleted: true,
            ..stamped
        };
        assert!(!new_item_pairs(false, false, false, Some(deleted)));
    }

    #[test]
    fn a_match_in_the_export_target_pairs_when_this_run_exports_the_contact() {
        assert!(new_item_pairs(false, true, true, Some(CONTACT)));
        // Not exporting, out of scope, or not the target: the contact stays free.
        assert!(!new_item_pairs(false, true, false, Some(CONTACT)));
        let out = Found {
            in_export_scope: false,
            ..CONTACT
        };
        assert!(!new_item_pairs(false, true, true, Some(out)));
        assert!(!new_item_pairs(false, false, true, Some(CONTACT)));
    }

    #[test]
    fn an_export_match_is_taken_in_the_target_or_by_its_own_stamp() {
        let me = Uuid::from_u128(1);
        assert!(export_match_taken("target", "target", None, me));
        assert!(export_match_taken("", "target", None, me));
        assert!(export_match_taken("other", "target", Some(me), me));
        assert!(!export_match_taken("other", "target", None, me));
        assert!(!export_match_taken(
            "other",
            "target",
            Some(Uuid::from_u128(2)),
            me
        ));
    }

    fn moved(link: Option<(i32, bool, bool)>, version: i32, deleted: bool) -> CrmMove {
        CrmMove {
            id: Uuid::from_u128(1),
            version,
            deleted,
            link,
            type_id: None,
        }
    }

    #[test]
    fn a_linked_contact_is_planned_when_its_version_or_scope_moved() {
        assert!(crm_contact_planned(
            &moved(Some((1, true, false)), 2, false),
            true,
            true
        ));
        assert!(crm_contact_planned(
            &moved(Some((1, true, false)), 1, false),
            false,
            true
        ));
        assert!(crm_contact_planned(
            &moved(Some((1, false, false)), 1, false),
            true,
            false
        ));
        assert!(!crm_contact_planned(
            &moved(Some((1, true, false)), 1, false),
            true,
            true
        ));
    }

    #[test]
    fn a_never_linked_contact_is_planned_when_exported() {
        assert!(crm_contact_planned(&moved(None, 1, false), true, true));
        assert!(!crm_contact_planned(&moved(None, 1, false), false, true));
        assert!(!crm_contact_planned(&moved(None, 1, false), true, false));
        assert!(!crm_contact_planned(&moved(None, 1, true), true, true));
    }

    #[test]
    fn a_detached_contact_is_planned_only_when_it_comes_back_into_scope() {
        assert!(crm_contact_planned(
            &moved(Some((1, false, true)), 3, false),
            true,
            true
        ));
        // Unlinked while in scope (its item deleted in Outlook): stays unlinked.
        assert!(!crm_contact_planned(
            &moved(Some((1, true, true)), 3, false),
            true,
            true
        ));
        assert!(!crm_contact_planned(
            &moved(Some((1, false, true)), 3, false),
            false,
            true
        ));
        assert!(!crm_contact_planned(
            &moved(Some((1, false, true)), 3, false),
            true,
            false
        ));
    }

    #[test]
    fn a_detached_link_gives_way_only_to_a_live_contact_back_in_scope() {
        assert!(link_holds(false, true, false));
        assert!(!link_holds(true, true, false));
        assert!(link_holds(true, false, false));
        assert!(link_holds(true, true, true));
    }
}
