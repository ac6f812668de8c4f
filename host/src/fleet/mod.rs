//! Many functions at once: onboarding by tag (the alarms every opted-in
//! function should have) and scheduled sweeps (a standing memory
//! recommendation per function from 14 days of its reports, by the same rules
//! that handle incidents). Plans and recommendations are pure ([`alarms`],
//! [`recommend`]); [`onboard`] and [`sweep`] run them over ports. A layer
//! above the pipeline: it uses the stages' context, never the reverse.
//! docs/fleet.md walks a team through it.

pub mod alarms;
pub mod downsizings;
pub mod onboard;
pub mod recommend;
pub mod render;
pub mod stage;
pub mod sweep;

use std::sync::Arc;

use crate::ports::{AlarmStore, Inventory, ItemStore, RecommendationStore};

/// The ports the fleet's work needs besides an incident's [`crate::pipeline::Context`].
#[derive(Clone)]
pub struct FleetPorts {
    pub inventory: Arc<dyn Inventory>,
    pub alarms: Arc<dyn AlarmStore>,
    pub recommendations: Arc<dyn RecommendationStore>,
    pub items: Arc<dyn ItemStore>,
    /// Throttling answers the process's AWS clients have met so far (a
    /// sweep batch reports how many it met).
    pub throttled: fn() -> u64,
}
