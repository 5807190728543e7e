//! Per-user limits on what a request may hold open: live event streams and calls that
//! reach Exchange while the caller waits. One user must not exhaust what every user shares.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::error::{ApiError, ErrorCode};

/// Counted slots per user, each held by a [`Slot`] until it is dropped.
#[derive(Debug, Clone)]
pub struct UserSlots {
    what: &'static str,
    limit: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One held slot; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    user: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl UserSlots {
    /// `limit` slots per user; `what` names them in the error.
    pub fn new(what: &'static str, limit: u32) -> UserSlots {
        UserSlots {
            what,
            limit: limit.max(1) as usize,
            held: Arc::default(),
        }
    }

    /// A slot for `user`, or 429 when the user holds them all.
    pub fn acquire(&self, user: &str) -> Result<Slot, ApiError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(user.to_owned()).or_default();
        if *n >= self.limit {
            return Err(ApiError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "at most {} {} at once per user; wait for one to end",
                    self.limit, self.what
                ),
            ));
        }
        *n += 1;
        Ok(Slot {
            user: user.to_owned(),
            held: self.held.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_freed_on_drop() {
        let slots = UserSlots::new("streams", 2);
        let a1 = slots.acquire("a").unwrap();
        let _a2 = slots.acquire("a").unwrap();
        let e = slots.acquire("a").unwrap_err();
        assert_eq!(e.code, ErrorCode::TooManyRequests);
        let _b = slots.acquire("b").unwrap();
        drop(a1);
        assert!(slots.acquire("a").is_ok());
    }
}
