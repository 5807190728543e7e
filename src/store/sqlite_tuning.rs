//! SQLite settings sqlx does not expose, applied through the C API.
use std::ffi::c_int;

use sea_orm::sqlx::sqlite::SqliteConnection;

/// Process-wide, before the first connection opens: no memory statistics. With them on
/// (SQLite's default), every allocation SQLite makes takes one global mutex, and sqlx
/// copies every column of every row with its own allocation, on each connection's
/// thread, while the API's threads free them: a page of 50 contacts is some 4,000
/// allocations through that one lock.
pub(crate) fn configure_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. Once SQLite is initialized the
        // call is refused (SQLITE_MISUSE) and changes nothing, which is harmless.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as c_int);
        }
    });
}

/// Per connection: plans that do not depend on bound values (the query planner
/// stability guarantee). Without it SQLite reads the value bound to `LIMIT ?` while
/// planning, and any statement with a bound `LIMIT` (every page, every `.one()`) is
/// parsed and planned again on each execution: on a listing page, a fifth of the
/// service's CPU.
pub(crate) async fn configure_connection(
    conn: &mut SqliteConnection,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, held locked; the option takes an int
    // (1: on) and an optional `int *` for the new state (none).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as c_int,
            std::ptr::null_mut::<c_int>(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(
            format!("sqlite3_db_config(ENABLE_QPSG) failed: {rc}").into(),
        ));
    }
    Ok(())
}
