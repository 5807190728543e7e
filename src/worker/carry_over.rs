//! A mailbox that switched transports still has the old protocol's Exchange folder ids in
//! its profile (import folders, export target): ids differ between EWS and Graph. Before
//! the first run under the new transport they are translated (Graph's
//! `translateExchangeIds`, SPEC §7b) and the profile saved with them. A folder that cannot
//! be translated fails the run with its id named — never treated as deleted — until the
//! owner saves the profile again. The items themselves are relinked by their `CrmContactId`
//! stamps in that run (their old ids are unknown to the new protocol, hence gone).
use crate::domain::mailbox::MailboxTransport;
use crate::domain::profile::ContactSyncProfile;
use crate::store::Store;
use crate::store::mailboxes::MailboxConnection;
use crate::transport::Transport;

/// The folder ids of a profile that name Exchange folders.
fn exchange_folder_ids(p: &ContactSyncProfile) -> Vec<String> {
    let mut ids = p.import.folder_ids.clone();
    ids.extend(p.export.target_folder_id.clone());
    ids.sort();
    ids.dedup();
    ids
}

/// The profile to run with: carried over to the mailbox's transport when it switched.
pub async fn carry_over(
    store: &Store,
    conn: &MailboxConnection,
    transport: &Transport,
    profile: ContactSyncProfile,
) -> Result<ContactSyncProfile, String> {
    let Some(from) = conn.carry_over_from.filter(|f| *f != conn.transport) else {
        return Ok(profile);
    };
    let ids = exchange_folder_ids(&profile);
    // The folders the links hold items in: carried over too, or the engine would take them
    // for deleted folders and detach their pairs.
    let linked = store
        .linked_folders(conn.id)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let mut all = ids.clone();
    all.extend(linked.iter().filter(|f| !ids.contains(f)).cloned());
    let translated_all: Vec<Option<String>> = match (from, transport) {
        _ if all.is_empty() => Vec::new(),
        (MailboxTransport::Ews, Transport::Graph(g)) => g
            .translate_ews_folder_ids(&all)
            .await
            .map_err(|e| format!("carrying the profile's folders over to Microsoft Graph: {e}"))?,
        // Graph ids cannot be translated without Graph: the owner picks the folders again.
        _ => vec![None; all.len()],
    };
    let (translated, for_links) = translated_all.split_at(ids.len());
    let missing: Vec<&str> = ids
        .iter()
        .zip(translated)
        .filter(|(_, t)| t.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the profile's Exchange folders {} were not found over {} after the mailbox moved from {}: choose them again and save the profile",
            missing.join(", "),
            conn.transport.as_str(),
            from.as_str()
        ));
    }
    let map: std::collections::HashMap<&str, &str> = ids
        .iter()
        .map(String::as_str)
        .zip(translated.iter().flatten().map(String::as_str))
        .collect();
    // A linked folder that cannot be translated is gone: the engine detaches its pairs.
    let link_moves: Vec<(String, String)> = all[ids.len()..]
        .iter()
        .zip(for_links)
        .filter_map(|(old, new)| Some((old.clone(), new.clone()?)))
        .chain(map.iter().map(|(o, n)| ((*o).to_owned(), (*n).to_owned())))
        .collect();
    let mut carried = profile;
    for id in &mut carried.import.folder_ids {
        *id = map[id.as_str()].to_owned();
    }
    if let Some(t) = &mut carried.export.target_folder_id {
        *t = map[t.as_str()].to_owned();
    }
    store
        .finish_carry_over(conn.id, &carried, &link_moves)
        .await
        .map_err(|e| format!("database: {e}"))?;
    tracing::info!(mailbox = %conn.id, from = from.as_str(), to = conn.transport.as_str(), folders = ids.len(), "profile folder ids carried over to the new transport");
    Ok(carried)
}
