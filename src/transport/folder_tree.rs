//! Builds the contacts folder tree from the flat list a server sends, in linear time and
//! without recursion: the list comes from a server we do not trust, so its size and depth
//! are capped before anything walks it (a deep tree would overflow the stack when it is
//! nested, serialized or dropped).
use std::collections::{HashMap, HashSet};

use super::{ErrorKind, ExchangeFolder, TransportError};

/// Most contacts folders a mailbox may have (Exchange Online allows 10,000 folders of all
/// kinds per mailbox; contacts folders are a small part of them).
pub const MAX_FOLDERS: usize = 5_000;
/// Deepest nesting of contacts folders (Exchange allows 300 levels of all folders).
pub const MAX_DEPTH: usize = 64;

fn too_big(message: String) -> TransportError {
    TransportError {
        kind: ErrorKind::Permanent,
        code: None,
        message,
    }
}

/// Nests folders under their parents. Duplicates and folders without an id are dropped;
/// a folder whose parent is not in the list is a root (its `parent_id` is cleared, as that
/// parent is not one the user can pick); folders caught in a parent cycle are dropped.
/// More than [`MAX_FOLDERS`] folders, or nesting deeper than [`MAX_DEPTH`], is an error.
/// Folders under `deleted_items` (however deep) are left out: a deleted folder is never a
/// sync folder (SPEC §5).
pub fn build(
    flat: Vec<ExchangeFolder>,
    deleted_items: Option<&str>,
) -> Result<Vec<ExchangeFolder>, TransportError> {
    let mut seen = HashSet::new();
    let mut nodes: Vec<ExchangeFolder> = Vec::new();
    for f in flat {
        if f.id.is_empty() || !seen.insert(f.id.clone()) {
            continue;
        }
        if nodes.len() == MAX_FOLDERS {
            return Err(too_big(format!(
                "the mailbox has more than {MAX_FOLDERS} contacts folders"
            )));
        }
        nodes.push(f);
    }
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    let parents: Vec<Option<usize>> = nodes
        .iter()
        .map(|f| {
            f.parent_id
                .as_deref()
                .and_then(|p| index.get(p).copied())
                .filter(|_| f.parent_id.as_deref() != Some(f.id.as_str()))
        })
        .collect();
    drop(index);
    // Deleted Items is not a contacts folder, so the folders right under it are roots here.
    let in_bin: Vec<bool> = nodes
        .iter()
        .map(|f| deleted_items.is_some_and(|b| f.parent_id.as_deref() == Some(b)))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut roots = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        match parent {
            Some(p) => children[*p].push(i),
            None => roots.push(i),
        }
    }
    // Breadth first from the roots: every node comes after its parent, so walking the
    // order backwards nests children before their parent is moved.
    let mut order: Vec<(usize, usize)> = roots.iter().map(|&r| (r, 1)).collect();
    let mut next = 0;
    while next < order.len() {
        let (node, depth) = order[next];
        next += 1;
        if depth >= MAX_DEPTH && !children[node].is_empty() {
            return Err(too_big(format!(
                "the mailbox's contacts folders are nested deeper than {MAX_DEPTH} levels"
            )));
        }
        order.extend(children[node].iter().map(|&c| (c, depth + 1)));
    }
    let mut slots: Vec<Option<ExchangeFolder>> = nodes.into_iter().map(Some).collect();
    for &(node, _) in order.iter().rev() {
        let nested: Vec<ExchangeFolder> = children[node]
            .iter()
            .filter_map(|&c| slots[c].take())
            .collect();
        if let Some(f) = slots[node].as_mut() {
            f.children = nested;
            if parents[node].is_none() {
                f.parent_id = None;
            }
        }
    }
    Ok(roots
        .iter()
        .filter(|&&r| !in_bin[r])
        .filter_map(|&r| slots[r].take())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: &str, parent: Option<&str>) -> ExchangeFolder {
        ExchangeFolder {
            id: id.into(),
            name: id.into(),
            parent_id: parent.map(str::to_owned),
            total_count: None,
            distinguished: None,
            children: Vec::new(),
        }
    }

    #[test]
    fn nests_in_order_and_drops_duplicates_cycles_and_unknown_parents() {
        let tree = build(
            vec![
                folder("a", Some("root-not-listed")),
                folder("b", Some("a")),
                folder("c", Some("a")),
                folder("b", Some("c")),
                folder("d", Some("b")),
                folder("x", Some("y")),
                folder("y", Some("x")),
                folder("s", Some("s")),
            ],
            None,
        )
        .unwrap();
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].id, "a");
        assert_eq!(tree[0].parent_id, None);
        let kids: Vec<&str> = tree[0].children.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(kids, ["b", "c"]);
        assert_eq!(tree[0].children[0].children[0].id, "d");
        assert_eq!(tree[0].children[0].parent_id.as_deref(), Some("a"));
        assert_eq!(tree[1].id, "s");
        assert_eq!(tree[0].ids(), ["a", "b", "d", "c"]);
    }

    #[test]
    fn folders_under_deleted_items_are_left_out_however_deep() {
        let tree = build(
            vec![
                folder("kept", None),
                folder("gone", Some("bin")),
                folder("gone-child", Some("gone")),
                folder("kept-child", Some("kept")),
            ],
            Some("bin"),
        )
        .unwrap();
        assert_eq!(tree.len(), 1);
        assert_eq!(tree[0].ids(), ["kept", "kept-child"]);
    }

    #[test]
    fn a_chain_deeper_than_the_cap_is_refused_without_overflowing() {
        let flat: Vec<_> = (0..MAX_FOLDERS)
            .map(|i| {
                let parent = (i > 0).then(|| (i - 1).to_string());
                folder(&i.to_string(), parent.as_deref())
            })
            .collect();
        let e = build(flat, None).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{}", e.message);
    }

    #[test]
    fn the_cap_depth_itself_is_accepted() {
        let flat: Vec<_> = (0..MAX_DEPTH)
            .map(|i| {
                let parent = (i > 0).then(|| (i - 1).to_string());
                folder(&i.to_string(), parent.as_deref())
            })
            .collect();
        let tree = build(flat, None).unwrap();
        assert_eq!(tree[0].ids().len(), MAX_DEPTH);
    }

    #[test]
    fn too_many_folders_are_refused_and_many_flat_ones_are_fast() {
        let flat: Vec<_> = (0..MAX_FOLDERS + 1)
            .map(|i| folder(&i.to_string(), None))
            .collect();
        assert!(build(flat, None).unwrap_err().message.contains("more than"));
        let flat: Vec<_> = (0..MAX_FOLDERS)
            .map(|i| folder(&i.to_string(), Some("0")))
            .collect();
        assert_eq!(
            build(flat, None).unwrap()[0].children.len(),
            MAX_FOLDERS - 1
        );
    }
}
