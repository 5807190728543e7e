//! The pure core of the sync engine (SPEC §5–§6): the field map, first-sync matching and
//! the plan. Nothing here does I/O; the engine collects both sides, asks `plan` what to
//! do, and applies the operations.
pub mod fieldmap;
pub mod matching;
pub mod plan;

#[cfg(test)]
mod convergence;

pub use fieldmap::{Changes, Field, MappedContact};
pub use matching::{AccountCandidate, Candidate, Match, MatchedBy, Matcher, link_account};
pub use plan::{Counts, CrmSide, ExSide, Link, Mode, Op, plan};
