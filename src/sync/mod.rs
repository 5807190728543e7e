//! The sync engine (SPEC §5–§6). The pure core — the field map, first-sync matching and
//! the plan — does no I/O; `engine` collects both sides, asks `plan` what to do, applies
//! the operations and commits the sync state.
pub mod engine;
pub mod fieldmap;
pub mod limits;
pub mod matching;
pub mod plan;

#[cfg(test)]
mod convergence;

pub use fieldmap::{Changes, Field, MappedContact};
pub use matching::{AccountCandidate, Candidate, Match, MatchedBy, Matcher, link_account};
pub use plan::{Counts, CrmSide, ExSide, Link, Mode, Op, plan};
