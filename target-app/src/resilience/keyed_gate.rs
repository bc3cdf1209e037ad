//! [`KeyedGate`]: one caller at a time per key does the expensive work (recompute a cached
//! response, lease rate-limit tokens); the others wait for it and then re-check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

type Gate = Arc<tokio::sync::Mutex<()>>;

/// Per-key async gates, removed again when nobody holds or waits on them.
#[derive(Default)]
pub struct KeyedGate {
    gates: Mutex<HashMap<String, Gate>>,
}

/// Holds a key's gate; dropping it lets the next waiter in.
pub struct GateGuard<'a> {
    owner: &'a KeyedGate,
    key: String,
    gate: Gate,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedGate {
    /// Waits until this caller is the only one holding `key`.
    pub async fn enter(&self, key: &str) -> GateGuard<'_> {
        let gate = self.gates.lock().expect("gate map lock").entry(key.to_owned()).or_default().clone();
        let guard = gate.clone().lock_owned().await;
        GateGuard { owner: self, key: key.to_owned(), gate, guard: Some(guard) }
    }

    /// Keys with a gate right now (held or waited on).
    pub fn len(&self) -> usize {
        self.gates.lock().expect("gate map lock").len()
    }

    /// Whether no key has a gate.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let mut gates = self.owner.gates.lock().expect("gate map lock");
        self.guard.take();
        // The map's reference and ours: nobody else holds or waits on this gate.
        if Arc::strong_count(&self.gate) == 2 {
            gates.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_holder_per_key_and_no_leftover_gates() {
        let gates = Arc::new(KeyedGate::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let tasks = (0..20).map(|_| {
            let (gates, inside) = (gates.clone(), inside.clone());
            tokio::spawn(async move {
                let _guard = gates.enter("k").await;
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        });
        futures::future::join_all(tasks).await.into_iter().for_each(|t| t.unwrap());
        assert!(gates.is_empty());
    }
}
