//! The events that start an extractor run (docs/architecture.md, "Extractor events").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{RunId, ScheduleId, TenantId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExtractorEvent {
    /// Rendered by the schedule rule's input transformer.
    Scheduled(ScheduledRun),
    /// Sent by `POST /v1/schedules/{id}/runs` as an asynchronous invoke.
    Manual(ManualRun),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRun {
    pub tenant_id: TenantId,
    pub schedule_id: ScheduleId,
    /// The rule's `$.time`: when EventBridge meant the run to happen.
    pub scheduled_time: DateTime<Utc>,
    /// The rule's `$.id`: the same on every redelivery of one event.
    pub event_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManualRun {
    pub tenant_id: TenantId,
    pub schedule_id: ScheduleId,
    pub run_id: RunId,
    pub requested_at: DateTime<Utc>,
}

impl ExtractorEvent {
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            Self::Scheduled(e) => &e.tenant_id,
            Self::Manual(e) => &e.tenant_id,
        }
    }

    pub fn schedule_id(&self) -> &ScheduleId {
        match self {
            Self::Scheduled(e) => &e.schedule_id,
            Self::Manual(e) => &e.schedule_id,
        }
    }

    /// The moment the run stands for: the window ends the day before it.
    pub fn reference_time(&self) -> DateTime<Utc> {
        match self {
            Self::Scheduled(e) => e.scheduled_time,
            Self::Manual(e) => e.requested_at,
        }
    }

    /// The run this event starts: a redelivered event names the same run.
    pub fn run_id(&self) -> RunId {
        match self {
            Self::Scheduled(e) => {
                let millis = e.scheduled_time.timestamp_millis().max(0) as u64;
                RunId::for_scheduled_event(millis, &e.event_id)
            }
            Self::Manual(e) => e.run_id.clone(),
        }
    }
}
