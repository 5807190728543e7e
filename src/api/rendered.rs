//! Listed records rendered as JSON, kept by version. A record's JSON changes only with
//! its version (every write of a contact, account or folder gives it a new one: the
//! ETag) or its grants, so a store listing reads each row's id, version and grants, and
//! only the records this process has not rendered at that version with those grants are
//! read whole and rendered. Read whole, a page of 50 contacts cost most of a listing's
//! CPU: 43 columns of each row copied out of the database, built into a model and
//! serialized. The key is read from the database on every listing, so another process's
//! writes are seen as soon as they are committed.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::error::ApiResult;
use super::pagination::Page;
use crate::domain::Grant;
use crate::domain::account::Account;
use crate::domain::contact::Contact;
use crate::domain::folder::ContactFolder;
use crate::store::{Listed, Slice, StoreResult};

/// What is kept of a kind: two generations of at most this many records each. A record
/// found in the older one moves to the newer; when the newer is full it becomes the
/// older, and the older is dropped. About 1 KiB a contact: at most 8 MiB of contacts,
/// the pages in use.
const GENERATION: usize = 4096;

/// A record as last rendered.
struct Rendered {
    version: i32,
    grants: Vec<Grant>,
    json: Arc<RawValue>,
}

impl Rendered {
    fn is_of(&self, listed: &Listed) -> bool {
        self.version == listed.version && self.grants == listed.grants
    }
}

#[derive(Default)]
struct Generations {
    newer: HashMap<Uuid, Rendered>,
    older: HashMap<Uuid, Rendered>,
}

impl Generations {
    fn get(&mut self, listed: &Listed) -> Option<Arc<RawValue>> {
        if let Some(r) = self.newer.get(&listed.id) {
            return r.is_of(listed).then(|| r.json.clone());
        }
        let r = self.older.remove(&listed.id)?;
        if !r.is_of(listed) {
            return None;
        }
        let json = r.json.clone();
        self.insert(listed.id, r);
        Some(json)
    }

    fn insert(&mut self, id: Uuid, r: Rendered) {
        if self.newer.len() >= GENERATION && !self.newer.contains_key(&id) {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(id, r);
    }
}

/// A record a listing renders: its JSON and the key it is kept by.
pub trait Versioned: Serialize {
    fn id(&self) -> Uuid;
    fn version(&self) -> i32;
    fn grants(&self) -> &[Grant];
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn id(&self) -> Uuid {
                self.id
            }
            fn version(&self) -> i32 {
                self.version
            }
            fn grants(&self) -> &[Grant] {
                &self.grants
            }
        }
    )*};
}
versioned!(Contact, Account, ContactFolder);

/// The records of one kind this process rendered, by id.
#[derive(Default)]
pub struct RenderedRecords {
    generations: Mutex<Generations>,
}

impl RenderedRecords {
    /// A listing's page as the response: its records' JSON, kept or read (by `read`,
    /// given the rows not kept) and rendered now, in the listing's order; a record
    /// `read` does not find is left out.
    pub async fn page<T: Versioned>(
        &self,
        slice: Slice<Listed>,
        read: impl AsyncFnOnce(&[Listed]) -> StoreResult<Vec<T>>,
    ) -> ApiResult<HttpResponse> {
        let rendered = self.render(&slice.items, read).await?;
        Ok(HttpResponse::Ok().json(Page::from(Slice {
            items: rendered
                .iter()
                .map(|json| &**json)
                .collect::<Vec<&RawValue>>(),
            next_after: slice.next_after,
        })))
    }

    async fn render<T: Versioned>(
        &self,
        listed: &[Listed],
        read: impl AsyncFnOnce(&[Listed]) -> StoreResult<Vec<T>>,
    ) -> StoreResult<Vec<Arc<RawValue>>> {
        let mut out: Vec<Option<Arc<RawValue>>> = {
            let mut kept = self.generations.lock().expect("rendered records lock");
            listed.iter().map(|l| kept.get(l)).collect()
        };
        let missing: Vec<Listed> = listed
            .iter()
            .zip(&out)
            .filter(|(_, json)| json.is_none())
            .map(|(l, _)| l.clone())
            .collect();
        if missing.is_empty() {
            return Ok(out.into_iter().flatten().collect());
        }
        let read = read(&missing).await?;
        let mut fresh: HashMap<Uuid, Arc<RawValue>> = HashMap::with_capacity(read.len());
        {
            let mut kept = self.generations.lock().expect("rendered records lock");
            for record in read {
                let json: Arc<RawValue> = serde_json::value::to_raw_value(&record)
                    .expect("a record serializes")
                    .into();
                fresh.insert(record.id(), json.clone());
                kept.insert(
                    record.id(),
                    Rendered {
                        version: record.version(),
                        grants: record.grants().to_vec(),
                        json,
                    },
                );
            }
        }
        for (slot, l) in out.iter_mut().zip(listed) {
            if slot.is_none() {
                *slot = fresh.remove(&l.id);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// What each listing has rendered.
#[derive(Default)]
pub struct Listings {
    pub contacts: RenderedRecords,
    pub accounts: RenderedRecords,
    pub folders: RenderedRecords,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(n: u128, version: i32) -> Listed {
        Listed {
            id: Uuid::from_u128(n),
            version,
            grants: Vec::new(),
        }
    }

    fn rendered(version: i32, text: &str) -> Rendered {
        Rendered {
            version,
            grants: Vec::new(),
            json: serde_json::value::to_raw_value(text).unwrap().into(),
        }
    }

    #[test]
    fn a_contact_is_kept_at_its_version_and_grants_only() {
        let mut g = Generations::default();
        g.insert(Uuid::from_u128(1), rendered(3, "three"));
        assert_eq!(g.get(&listed(1, 3)).unwrap().get(), "\"three\"");
        assert!(g.get(&listed(1, 4)).is_none());
        let mut shared = listed(1, 3);
        shared.grants.push(Grant {
            user_id: "bob".into(),
            access: crate::domain::Access::Read,
        });
        assert!(g.get(&shared).is_none());
    }

    #[test]
    fn what_is_kept_is_bounded_and_the_contacts_in_use_stay() {
        let mut g = Generations::default();
        let hot = GENERATION as u128 * 10;
        g.insert(Uuid::from_u128(hot), rendered(1, "hot"));
        for n in 0..GENERATION as u128 * 5 {
            g.insert(Uuid::from_u128(n), rendered(1, "cold"));
            // A page in use is asked for all along.
            assert!(g.get(&listed(hot, 1)).is_some(), "after {n} others");
        }
        assert!(g.newer.len() + g.older.len() <= 2 * GENERATION);
        assert!(g.get(&listed(0, 1)).is_none(), "the oldest went");
    }
}
