//! Named points of a run where the kill test (`tests/it/crash.rs`) stops a worker process
//! to SIGKILL it exactly there: inside a chunk's CRM transaction, between the Exchange
//! write batches of a chunk, before a chunk's links, before the feed states.
//!
//! Armed only by the environment variable `CONTACTSYNC_TEST_CRASH_POINT` =
//! `<point>:<n>:<marker file>`, read once. The n-th time the process reaches that point,
//! it writes the point's name into the marker file and waits there for ever, holding what
//! it holds (a transaction, a lease), until the test kills it. Unarmed — always, outside
//! that test — reaching a point costs one read of an initialised static.
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms one point.
pub const ENV: &str = "CONTACTSYNC_TEST_CRASH_POINT";

/// A place in a run where a crash is worth proving harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// A page of a folder's change feed was read (nothing applied from it yet).
    FeedPage,
    /// A chunk's CRM writes are done inside their transaction, not committed.
    CrmTransaction,
    /// One batch of Exchange writes was answered; other batches of the chunk may not be.
    ExchangeBatch,
    /// A chunk's CRM and Exchange writes are done, its links not yet written.
    BeforeLinks,
    /// Everything is applied, the folders' feed states not yet saved.
    BeforeFeedStates,
}

impl CrashPoint {
    /// Every point, for the test's choice.
    pub const ALL: [CrashPoint; 5] = [
        CrashPoint::FeedPage,
        CrashPoint::CrmTransaction,
        CrashPoint::ExchangeBatch,
        CrashPoint::BeforeLinks,
        CrashPoint::BeforeFeedStates,
    ];

    /// The name used in the environment variable and the marker file.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::FeedPage => "feed-page",
            CrashPoint::CrmTransaction => "crm-transaction",
            CrashPoint::ExchangeBatch => "exchange-batch",
            CrashPoint::BeforeLinks => "before-links",
            CrashPoint::BeforeFeedStates => "before-feed-states",
        }
    }

    fn from_name(name: &str) -> Option<CrashPoint> {
        CrashPoint::ALL.into_iter().find(|p| p.name() == name)
    }
}

struct Armed {
    point: CrashPoint,
    nth: u64,
    marker: PathBuf,
    reached: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

fn armed() -> Option<&'static Armed> {
    ARMED
        .get_or_init(|| {
            let value = std::env::var(ENV).ok()?;
            let mut parts = value.splitn(3, ':');
            let point = CrashPoint::from_name(parts.next()?)?;
            let nth = parts.next()?.parse().ok()?;
            let marker = PathBuf::from(parts.next()?);
            Some(Armed {
                point,
                nth,
                marker,
                reached: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Marks that the run reached `point`; stops here for good when the test armed it.
pub async fn reach(point: CrashPoint) {
    let Some(armed) = armed().filter(|a| a.point == point) else {
        return;
    };
    if armed.reached.fetch_add(1, Ordering::SeqCst) + 1 != armed.nth {
        return;
    }
    if let Err(e) = std::fs::write(&armed.marker, point.name()) {
        tracing::error!(error = %e, "cannot write the crash point marker");
        return;
    }
    std::future::pending::<()>().await;
}
