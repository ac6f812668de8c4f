//! Row-wise reading of the column-wise [`InvocationReports`].

use crate::{InvocationReports, InvocationStatus};

/// One invocation, read across the columns of [`InvocationReports`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report<'a> {
    pub timestamp_ms: i64,
    pub duration_ms: f64,
    pub billed_duration_ms: f64,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u32,
    /// Set for cold starts.
    pub init_duration_ms: Option<f64>,
    pub status: InvocationStatus,
    pub error_type: Option<&'a str>,
    /// Only when the rule sees log lines (`logs` granted and present).
    pub request_id: Option<&'a str>,
}

impl Report<'_> {
    /// A failed init phase (`INIT_REPORT`, `platform.initReport`): the host
    /// reports it with its init duration as its duration and no memory
    /// figures, under the request id `init`.
    pub fn is_init_phase(&self) -> bool {
        self.request_id == Some("init")
            || (self.memory_size_mb == 0
                && self.max_memory_used_mb == 0
                && self.init_duration_ms == Some(self.duration_ms))
    }
}

impl InvocationReports {
    /// Number of invocations (the shortest numeric column, should a host ever
    /// send ragged columns).
    pub fn len(&self) -> usize {
        [
            self.timestamps_ms.len(),
            self.durations_ms.len(),
            self.billed_durations_ms.len(),
            self.memory_sizes_mb.len(),
            self.max_memory_used_mb.len(),
            self.init_durations_ms.len(),
            self.statuses.len(),
        ]
        .into_iter()
        .min()
        .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Invocation `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Report<'_>> {
        (i < self.len()).then(|| self.row(i))
    }

    /// Every invocation, in order. The length is taken once: rules walk
    /// every report several times per incident.
    pub fn iter(&self) -> impl Iterator<Item = Report<'_>> {
        (0..self.len()).map(|i| self.row(i))
    }

    /// Row `i`, which must be below [`InvocationReports::len`].
    fn row(&self, i: usize) -> Report<'_> {
        let init = self.init_durations_ms[i];
        Report {
            timestamp_ms: self.timestamps_ms[i],
            duration_ms: self.durations_ms[i],
            billed_duration_ms: self.billed_durations_ms[i],
            memory_size_mb: self.memory_sizes_mb[i],
            max_memory_used_mb: self.max_memory_used_mb[i],
            init_duration_ms: (init > 0.0).then_some(init),
            status: self.statuses[i],
            error_type: self.error_types.get(i).and_then(|e| e.as_deref()),
            request_id: self.request_ids.get(i).map(String::as_str),
        }
    }

    /// Appends one invocation to every column.
    pub fn push(&mut self, r: Report<'_>) {
        self.timestamps_ms.push(r.timestamp_ms);
        self.durations_ms.push(r.duration_ms);
        self.billed_durations_ms.push(r.billed_duration_ms);
        self.memory_sizes_mb.push(r.memory_size_mb);
        self.max_memory_used_mb.push(r.max_memory_used_mb);
        self.init_durations_ms
            .push(r.init_duration_ms.unwrap_or(0.0));
        self.statuses.push(r.status);
        self.error_types.push(r.error_type.map(str::to_owned));
        if let Some(id) = r.request_id {
            self.request_ids.push(id.to_owned());
        }
    }

    /// No invocations.
    pub fn empty() -> InvocationReports {
        InvocationReports {
            timestamps_ms: Vec::new(),
            durations_ms: Vec::new(),
            billed_durations_ms: Vec::new(),
            memory_sizes_mb: Vec::new(),
            max_memory_used_mb: Vec::new(),
            init_durations_ms: Vec::new(),
            statuses: Vec::new(),
            error_types: Vec::new(),
            request_ids: Vec::new(),
        }
    }
}
