//! Whether this node is draining: after SIGTERM it takes no new sessions or calls (so a load
//! balancer moves new visitors elsewhere) while the live ones go on for a while.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared by everything that admits new work (the control plane, the media pool, readiness).
#[derive(Debug, Clone, Default)]
pub struct Drain(Arc<AtomicBool>);

impl Drain {
    /// From now on, new sessions and calls are refused with `draining`.
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
