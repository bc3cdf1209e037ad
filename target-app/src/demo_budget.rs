//! [`DemoBudget`]: what the `/demo/*` injectors may hold at once, across every concurrent call.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::FaultSettings;
use kit::error::{ApiError, ApiResult};

/// The memory (`DEMO_MAX_MEMORY_MB`) and busy threads (`DEMO_MAX_CPU_BURNERS`) the injectors may
/// hold at once, over every concurrent call. A permit is held until the work it pays for ends,
/// also when the client hangs up first.
pub struct DemoBudget {
    memory_mb: Arc<Semaphore>,
    burners: Arc<Semaphore>,
    limits: (u64, u64),
}

impl DemoBudget {
    /// The budget the settings give.
    pub fn new(settings: &FaultSettings) -> Self {
        Self {
            memory_mb: Arc::new(Semaphore::new(settings.max_memory_mb as usize)),
            burners: Arc::new(Semaphore::new(settings.max_cpu_burners as usize)),
            limits: (settings.max_memory_mb, settings.max_cpu_burners),
        }
    }

    /// A permit for `mb` MiB more, or a 503 naming the budget.
    pub fn memory(&self, mb: u64) -> ApiResult<OwnedSemaphorePermit> {
        self.memory_mb.clone().try_acquire_many_owned(mb as u32).map_err(|_| {
            over_budget(
                format!("The demo memory budget cannot hold {mb} MiB more now"),
                json!({ "budget": "memory", "limit_mb": self.limits.0, "free_mb": self.memory_mb.available_permits(), "requested_mb": mb }),
            )
        })
    }

    /// A permit for one more CPU burner, or a 503 naming the budget.
    pub fn burner(&self) -> ApiResult<OwnedSemaphorePermit> {
        self.burners.clone().try_acquire_owned().map_err(|_| {
            over_budget(
                "Every demo CPU burner is busy".into(),
                json!({ "budget": "cpu", "limit_burners": self.limits.1 }),
            )
        })
    }
}

fn over_budget(message: String, details: Value) -> ApiError {
    ApiError::ServiceUnavailable { message, details }
}
