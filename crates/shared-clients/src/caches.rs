//! Shared caches (token caches), keyed by bytes: a digest of what the cache belongs to,
//! so that the map holds no secret.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Shared caches; past a bound, those no one else holds are dropped before another is
/// added (the held ones stay, since their holders would keep them alive anyway).
pub struct CacheRegistry<T> {
    bound: usize,
    caches: Mutex<HashMap<Vec<u8>, Arc<T>>>,
}

impl<T: Default> CacheRegistry<T> {
    /// An empty registry that keeps up to `bound` caches no one holds.
    pub fn new(bound: usize) -> Self {
        Self {
            bound,
            caches: Mutex::default(),
        }
    }

    /// The cache of `key`: made on first use, then shared with every caller of the key.
    pub fn cache(&self, key: Vec<u8>) -> Arc<T> {
        let mut caches = self.caches.lock().unwrap_or_else(|p| p.into_inner());
        if caches.len() >= self.bound && !caches.contains_key(&key) {
            caches.retain(|_, cache| Arc::strong_count(cache) > 1);
        }
        caches.entry(key).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A cache that remembers a mark, to tell a kept cache from a new one.
    type Marked = AtomicU32;

    fn marked(registry: &CacheRegistry<Marked>, key: &[u8], mark: u32) -> Arc<Marked> {
        let cache = registry.cache(key.to_vec());
        cache.store(mark, Ordering::Relaxed);
        cache
    }

    #[test]
    fn one_key_shares_one_cache() {
        let registry = CacheRegistry::<Marked>::new(8);
        let first = registry.cache(b"app".to_vec());
        assert!(Arc::ptr_eq(&first, &registry.cache(b"app".to_vec())));
        assert!(!Arc::ptr_eq(&first, &registry.cache(b"other".to_vec())));
    }

    #[test]
    fn an_unheld_cache_is_kept_while_the_registry_has_room() {
        let registry = CacheRegistry::<Marked>::new(8);
        drop(marked(&registry, b"app", 7));
        assert_eq!(registry.cache(b"app".to_vec()).load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_full_registry_drops_the_caches_no_one_holds() {
        let registry = CacheRegistry::<Marked>::new(2);
        let held = marked(&registry, b"held", 1);
        drop(marked(&registry, b"unheld", 2));
        let _third = registry.cache(b"third".to_vec());
        assert!(Arc::ptr_eq(&held, &registry.cache(b"held".to_vec())));
        assert_eq!(
            registry.cache(b"unheld".to_vec()).load(Ordering::Relaxed),
            0,
            "a new cache, not the dropped one"
        );
    }
}
