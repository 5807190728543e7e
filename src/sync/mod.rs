//! The sync engine (SPEC §5–§6). The pure core — the field map, first-sync matching and
//! the plan — does no I/O and knows no protocol; `engine` collects both sides over any
//! `transport::ExchangeContacts`, asks `plan` what to do, applies the operations and
//! commits the sync state. The model-based test of the engine is `tests/it/sync_model.rs`.
pub mod engine;
pub mod fieldmap;
pub mod limits;
pub mod matching;
pub mod plan;

pub use fieldmap::{Changes, Field, MappedContact};
pub use matching::{AccountCandidate, Candidate, Match, MatchedBy, Matcher, link_account};
pub use plan::{CrmSide, ExSide, Link, Op, plan};
