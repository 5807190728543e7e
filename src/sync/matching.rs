//! First-sync dedupe (SPEC §5): find the contact on the other side that a new contact
//! already is, and link imported contacts to accounts by company name. Pure.
//!
//! The same matcher serves both directions: a new Exchange item against the owner's
//! visible CRM contacts (keys are CRM ids), and a new CRM contact against the folder's
//! Exchange items (keys are ItemIds).
use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::fieldmap::{Field, MappedContact};
use crate::domain::account::name_key;
use crate::domain::contact::ContactFields;
use crate::domain::profile::MatchExisting;

/// A contact that a new contact on the other side may already be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<K> {
    /// CRM contact id or Exchange ItemId.
    pub key: K,
    /// The CRM id: the contact's own id, or the `CrmContactId` an Exchange item carries.
    pub crm_id: Option<Uuid>,
    /// Its mapped fields.
    pub fields: MappedContact,
}

/// Why a match was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// The Exchange item carries the CRM contact's id: the pair was linked before.
    CrmContactId,
    /// One candidate shares an e-mail address.
    Email,
    /// One candidate has the same full name and company.
    NameAndCompany,
}

/// A match: the candidate's key and the rule that found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<K> {
    pub key: K,
    pub by: MatchedBy,
}

/// Finds matches among a fixed set of candidates (pass only unlinked ones); a candidate
/// matched once is never matched again in the same run, so two new contacts cannot both
/// link to it.
#[derive(Debug)]
pub struct Matcher<K> {
    candidates: Vec<Candidate<K>>,
    taken: HashSet<usize>,
    by_crm_id: HashMap<Uuid, Vec<usize>>,
    by_email: HashMap<String, Vec<usize>>,
    by_name: HashMap<(String, String), Vec<usize>>,
    /// CRM ids that pair only by stamp (see [`Matcher::only_by_stamp`]), also for
    /// candidates added later.
    stamp_only: HashSet<Uuid>,
}

const EMAILS: [Field; 3] = [Field::Email1, Field::Email2, Field::Email3];

fn emails(m: &MappedContact) -> HashSet<String> {
    EMAILS
        .into_iter()
        .filter_map(|f| m.get(f))
        .map(str::to_lowercase)
        .collect()
}

/// (full name, company), trimmed and case-folded; `None` without a full name.
fn name_company(m: &MappedContact) -> Option<(String, String)> {
    let name = m.get(Field::FullName).map(name_key)?;
    Some((name, name_key(m.get(Field::Company).unwrap_or(""))))
}

/// What a contact may be matched by: its e-mail addresses (lower case) and its full
/// name (trimmed, lower case). The store looks for candidates sharing one of these, so
/// that matching reads only the contacts that may match, not every unlinked one.
pub fn match_keys(m: &MappedContact) -> (Vec<String>, Option<String>) {
    (
        emails(m).into_iter().collect(),
        m.get(Field::FullName).map(name_key),
    )
}

/// The keys a CRM contact is stored with for the candidates' lookup (SPEC §5): its three
/// e-mail addresses and its full name (composed when empty), trimmed and case-folded —
/// empty when absent. The lookup compares them with [`lookup_key`] of what a new item may
/// match by; the matcher then decides on the candidates found, so the keys need only
/// find every contact it could accept.
pub fn stored_keys(fields: &ContactFields) -> ([String; 3], String) {
    let m = MappedContact::from_crm(fields);
    let key = |f: Field| m.get(f).map(lookup_key).unwrap_or_default();
    (EMAILS.map(key), key(Field::FullName))
}

/// A value as [`stored_keys`] stores it: trimmed, in lower case.
pub fn lookup_key(value: &str) -> String {
    name_key(value)
}

impl<K: Clone> Matcher<K> {
    /// Indexes the candidates.
    pub fn new(candidates: Vec<Candidate<K>>) -> Self {
        let mut m = Matcher {
            candidates: Vec::new(),
            taken: HashSet::new(),
            by_crm_id: HashMap::new(),
            by_email: HashMap::new(),
            by_name: HashMap::new(),
            stamp_only: HashSet::new(),
        };
        for c in candidates {
            m.push(c);
        }
        m
    }

    fn push(&mut self, c: Candidate<K>) {
        let i = self.candidates.len();
        if let Some(id) = c.crm_id {
            self.by_crm_id.entry(id).or_default().push(i);
            if self.stamp_only.contains(&id) {
                self.candidates.push(c);
                return;
            }
        }
        for e in emails(&c.fields) {
            self.by_email.entry(e).or_default().push(i);
        }
        if let Some(k) = name_company(&c.fields) {
            self.by_name.entry(k).or_default().push(i);
        }
        self.candidates.push(c);
    }

    /// Candidates with these CRM ids pair only by their stamp from now on, never by
    /// content: their id is on an item somewhere already, and a second item must not
    /// take it.
    pub fn only_by_stamp(&mut self, crm_ids: &HashSet<Uuid>) {
        self.stamp_only.extend(crm_ids.iter().copied());
        let stamped: HashSet<usize> = crm_ids
            .iter()
            .filter_map(|id| self.by_crm_id.get(id))
            .flatten()
            .copied()
            .collect();
        for list in self.by_email.values_mut().chain(self.by_name.values_mut()) {
            list.retain(|i| !stamped.contains(i));
        }
    }

    /// The candidate that `fields` (with CRM id `crm_id`, if it has one) already is:
    /// the candidate carrying that CRM id; else, with `email_then_name`, the one
    /// candidate sharing an e-mail (several: the one of those with the same full name
    /// and company), else the one candidate with the same full name and company.
    /// Anything ambiguous is no match: creating a duplicate is recoverable, merging two
    /// different people is not. The match is taken for the rest of the run.
    pub fn find(
        &mut self,
        fields: &MappedContact,
        crm_id: Option<Uuid>,
        policy: MatchExisting,
    ) -> Option<Match<K>> {
        let (i, by) = self.pick(fields, crm_id, policy)?;
        self.taken.insert(i);
        Some(Match {
            key: self.candidates[i].key.clone(),
            by,
        })
    }

    /// How `find` would match, without taking the candidate.
    pub fn peek(
        &self,
        fields: &MappedContact,
        crm_id: Option<Uuid>,
        policy: MatchExisting,
    ) -> Option<MatchedBy> {
        self.pick(fields, crm_id, policy).map(|(_, by)| by)
    }

    fn free(&self, ids: Option<&Vec<usize>>) -> Vec<usize> {
        let mut v: Vec<usize> = ids
            .into_iter()
            .flatten()
            .copied()
            .filter(|i| !self.taken.contains(i))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn never_stamped(&self, among: &[usize]) -> Vec<usize> {
        among
            .iter()
            .copied()
            .filter(|i| self.candidates[*i].crm_id.is_none())
            .collect()
    }

    fn pick(
        &self,
        fields: &MappedContact,
        crm_id: Option<Uuid>,
        policy: MatchExisting,
    ) -> Option<(usize, MatchedBy)> {
        if let Some(id) = crm_id {
            // Several items stamped with one id happen when a user copies an item in
            // Outlook; the first keeps the link and the copies are treated as new.
            if let Some(&i) = self.free(self.by_crm_id.get(&id)).first() {
                return Some((i, MatchedBy::CrmContactId));
            }
        }
        if policy == MatchExisting::None {
            return None;
        }
        let mut by_email: Vec<usize> = emails(fields)
            .iter()
            .flat_map(|e| self.free(self.by_email.get(e)))
            .collect();
        by_email.sort_unstable();
        by_email.dedup();
        let key = name_company(fields);
        match by_email.as_slice() {
            [one] => return Some((*one, MatchedBy::Email)),
            [] => {}
            several => {
                let same_name: Vec<usize> = several
                    .iter()
                    .copied()
                    .filter(|i| key.is_some() && name_company(&self.candidates[*i].fields) == key)
                    .collect();
                return match same_name.as_slice() {
                    [one] => Some((*one, MatchedBy::Email)),
                    [] => None,
                    // One person's items: one never stamped is the person's own, those
                    // stamped for another contact were that contact's (a deleted one's,
                    // left unlinked). Without it, two CRM contacts of one person each
                    // found both and made two items more.
                    alike => match self.never_stamped(alike).as_slice() {
                        [one] => Some((*one, MatchedBy::Email)),
                        _ => None,
                    },
                };
            }
        }
        match self.free(self.by_name.get(&key?)).as_slice() {
            [one] => Some((*one, MatchedBy::NameAndCompany)),
            _ => None,
        }
    }
}

impl<K: Clone + Eq + std::hash::Hash> Matcher<K> {
    /// Adds candidates found later (the store is asked per batch of new contacts); one
    /// already known keeps its place, and stays taken if it was.
    pub fn extend(&mut self, candidates: Vec<Candidate<K>>) {
        let known: HashSet<K> = self.candidates.iter().map(|c| c.key.clone()).collect();
        for c in candidates {
            if !known.contains(&c.key) {
                self.push(c);
            }
        }
    }
}

/// An account an imported contact may be linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCandidate {
    pub id: Uuid,
    pub name: String,
    /// Whether the mailbox owner may see the account.
    pub visible_to_owner: bool,
}

/// The account an imported contact with `company` is linked to (SPEC §5): among the
/// accounts the mailbox owner may see, the one of that name (trimmed, case-insensitive);
/// several or none: no link. An account the owner cannot see is never linked — the owner
/// could not edit the contact afterwards, and would learn that the account exists.
pub fn link_account(company: Option<&str>, accounts: &[AccountCandidate]) -> Option<Uuid> {
    let key = name_key(company?);
    if key.is_empty() {
        return None;
    }
    let named: Vec<&AccountCandidate> = accounts
        .iter()
        .filter(|a| a.visible_to_owner && name_key(&a.name) == key)
        .collect();
    match named.as_slice() {
        [one] => Some(one.id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(name: &str, company: &str, emails: &[&str]) -> MappedContact {
        let mut m = MappedContact::default();
        m.set(Field::FullName, Some(name));
        m.set(Field::Company, Some(company));
        for (f, e) in EMAILS.into_iter().zip(emails) {
            m.set(f, Some(e));
        }
        m
    }

    fn cand(key: &str, crm_id: Option<Uuid>, fields: MappedContact) -> Candidate<String> {
        Candidate {
            key: key.into(),
            crm_id,
            fields,
        }
    }

    const EMAIL_THEN_NAME: MatchExisting = MatchExisting::EmailThenName;

    #[test]
    fn a_candidate_stamped_elsewhere_pairs_only_by_its_stamp() {
        let id = Uuid::from_u128(7);
        let ann = contact("Ann Lee", "Acme", &["ann@acme.test"]);
        let mut m = Matcher::new(vec![cand("a", Some(id), ann.clone())]);
        m.only_by_stamp(&[id].into_iter().collect());
        assert!(m.find(&ann, None, EMAIL_THEN_NAME).is_none());
        let found = m.find(&ann, Some(id), EMAIL_THEN_NAME).unwrap();
        assert_eq!(
            (found.key.as_str(), found.by),
            ("a", MatchedBy::CrmContactId)
        );
    }

    #[test]
    fn candidates_added_later_keep_the_stamp_only_rule_and_are_not_added_twice() {
        let id = Uuid::from_u128(7);
        let ann = contact("Ann Lee", "Acme", &["ann@acme.test"]);
        let mut m = Matcher::new(Vec::new());
        m.only_by_stamp(&[id].into_iter().collect());
        m.extend(vec![cand("a", Some(id), ann.clone())]);
        assert!(m.find(&ann, None, EMAIL_THEN_NAME).is_none());
        let bob = contact("Bob Ek", "Acme", &["bob@acme.test"]);
        m.extend(vec![cand("b", None, bob.clone())]);
        m.extend(vec![cand("b", None, bob.clone())]);
        assert_eq!(m.find(&bob, None, EMAIL_THEN_NAME).unwrap().key, "b");
        assert!(m.find(&bob, None, EMAIL_THEN_NAME).is_none(), "taken once");
        assert_eq!(m.find(&ann, Some(id), EMAIL_THEN_NAME).unwrap().key, "a");
    }

    #[test]
    fn unambiguous_email_match_is_case_insensitive_and_uses_any_address() {
        let mut m = Matcher::new(vec![
            cand(
                "a",
                None,
                contact("Ann Lee", "Acme", &["x@a.example", "Ann@Acme.example"]),
            ),
            cand("b", None, contact("Bob", "Acme", &["bob@acme.example"])),
        ]);
        let target = contact("A. Lee", "", &["ann@ACME.example"]);
        assert_eq!(
            m.find(&target, None, EMAIL_THEN_NAME),
            Some(Match {
                key: "a".into(),
                by: MatchedBy::Email
            })
        );
        // Taken: the same person cannot be matched twice in a run.
        assert_eq!(m.find(&target, None, EMAIL_THEN_NAME), None);
    }

    #[test]
    fn ambiguous_email_is_no_match() {
        let mut m = Matcher::new(vec![
            cand(
                "a",
                None,
                contact("Ann Lee", "Acme", &["team@acme.example"]),
            ),
            cand(
                "b",
                None,
                contact("Bob Ray", "Acme", &["team@acme.example"]),
            ),
        ]);
        let target = contact("Cy Doe", "Acme", &["team@acme.example"]);
        assert_eq!(m.find(&target, None, EMAIL_THEN_NAME), None);
        // Name + company settles which of the e-mail matches it is.
        let ann = contact("ann lee", "ACME ", &["team@acme.example"]);
        assert_eq!(m.find(&ann, None, EMAIL_THEN_NAME).unwrap().key, "a");
    }

    #[test]
    fn among_one_persons_items_the_one_never_stamped_is_taken_first() {
        let gone = Uuid::from_u128(9);
        let ann = || contact("Ann Lee", "Acme", &["ann@acme.test"]);
        let mut m = Matcher::new(vec![
            cand("stamped-for-a-deleted-contact", Some(gone), ann()),
            cand("never-stamped", None, ann()),
        ]);
        assert_eq!(
            m.find(&ann(), None, EMAIL_THEN_NAME).unwrap().key,
            "never-stamped"
        );
        // A second contact of the same person takes the other one.
        assert_eq!(
            m.find(&ann(), None, EMAIL_THEN_NAME).unwrap().key,
            "stamped-for-a-deleted-contact"
        );
        // Two never stamped stay ambiguous.
        let mut m = Matcher::new(vec![cand("a", None, ann()), cand("b", None, ann())]);
        assert_eq!(m.find(&ann(), None, EMAIL_THEN_NAME), None);
    }

    #[test]
    fn name_and_company_is_the_fallback() {
        let mut m = Matcher::new(vec![
            cand("a", None, contact("Ann Lee", "Acme", &[])),
            cand("b", None, contact("Ann Lee", "Other", &[])),
            cand("c", None, contact("Bob Ray", "", &[])),
            cand("d", None, contact("Bob Ray", "", &[])),
        ]);
        let hit = m.find(
            &contact(" ann LEE ", "acme", &["new@x.example"]),
            None,
            EMAIL_THEN_NAME,
        );
        assert_eq!(
            hit,
            Some(Match {
                key: "a".into(),
                by: MatchedBy::NameAndCompany
            })
        );
        assert_eq!(
            m.find(&contact("Bob Ray", "", &[]), None, EMAIL_THEN_NAME),
            None,
            "two Bobs"
        );
        assert_eq!(
            m.find(&contact("Ann Lee", "Nowhere", &[]), None, EMAIL_THEN_NAME),
            None
        );
    }

    #[test]
    fn relink_by_crm_contact_id_wins_over_email() {
        let id = Uuid::from_u128(7);
        let mut m = Matcher::new(vec![
            cand(
                "by-email",
                None,
                contact("Ann Lee", "Acme", &["ann@acme.example"]),
            ),
            cand("stamped", Some(id), contact("Someone Else", "", &[])),
        ]);
        let target = contact("Ann Lee", "Acme", &["ann@acme.example"]);
        assert_eq!(
            m.find(&target, Some(id), MatchExisting::None),
            Some(Match {
                key: "stamped".into(),
                by: MatchedBy::CrmContactId
            })
        );
    }

    #[test]
    fn match_existing_none_never_matches_by_content() {
        let mut m = Matcher::new(vec![cand(
            "a",
            None,
            contact("Ann Lee", "Acme", &["ann@acme.example"]),
        )]);
        let target = contact("Ann Lee", "Acme", &["ann@acme.example"]);
        assert_eq!(m.find(&target, None, MatchExisting::None), None);
        assert_eq!(
            m.find(&target, Some(Uuid::from_u128(1)), MatchExisting::None),
            None
        );
    }

    fn account(n: u128, name: &str, visible: bool) -> AccountCandidate {
        AccountCandidate {
            id: Uuid::from_u128(n),
            name: name.into(),
            visible_to_owner: visible,
        }
    }

    #[test]
    fn account_linking_with_no_account_is_none() {
        assert_eq!(
            link_account(Some("Acme"), &[account(1, "Other", true)]),
            None
        );
        assert_eq!(link_account(None, &[account(1, "Acme", true)]), None);
        assert_eq!(link_account(Some("  "), &[account(1, "", true)]), None);
    }

    #[test]
    fn account_linking_never_links_an_account_the_owner_cannot_see() {
        let accounts = [account(1, " ACME ", false), account(2, "Other", true)];
        assert_eq!(link_account(Some("acme"), &accounts), None);
        let visible = [account(1, " ACME ", true), account(2, "Other", true)];
        assert_eq!(
            link_account(Some("acme"), &visible),
            Some(Uuid::from_u128(1))
        );
    }

    #[test]
    fn account_linking_with_several_takes_the_one_the_owner_sees() {
        let accounts = [
            account(1, "Acme", false),
            account(2, "acme", true),
            account(3, "ACME", false),
        ];
        assert_eq!(
            link_account(Some("Acme"), &accounts),
            Some(Uuid::from_u128(2))
        );
    }

    #[test]
    fn account_linking_with_several_visible_or_none_visible_is_none() {
        let both = [account(1, "Acme", true), account(2, "Acme", true)];
        assert_eq!(link_account(Some("Acme"), &both), None);
        let neither = [account(1, "Acme", false), account(2, "Acme", false)];
        assert_eq!(link_account(Some("Acme"), &neither), None);
    }
}
