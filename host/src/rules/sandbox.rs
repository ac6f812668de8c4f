//! The wasmtime side: one engine per process (pooling allocator, epoch
//! interruption), a linker offering an empty WASI context and the `host` interface,
//! and one fresh store per call with a deadline and a memory cap.
//!
//! The deadline holds in wall-clock time whatever the guest does: guest code
//! is interrupted by the epoch deadline, and no host call can wait — WASI's
//! two waiting calls (`poll` and `pollable.block`) return at once when what
//! they wait on is ready and otherwise trap, so a sleep or a poll on a clock
//! ends the call instead of outlasting its budget. The memory cap counts every
//! memory and table of the component together, and the number of instances,
//! memories and tables a component may create is capped.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable, WasmStr};
use wasmtime::{Engine, Store, StoreContextMut, Trap};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_io::bindings::wasi::io::poll::HostPollable;

use super::bindings::{v0_1, v0_2};
use super::engine::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES, config};
use super::statistics::{IncidentStatistics, Leak, Statistics};
use crate::model::FailureCause;
use v0_2::autorepair::rules::host::Level;

/// How often the epoch ticker advances: the granularity of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);
/// What a rule may write to stderr (where a Rust panic message goes) before its
/// writes fail; kept to report why a rule panicked.
const STDERR_CAPTURE_BYTES: usize = 16 * 1024;
/// Per call: at most this many `log` calls reach the host, each cut to this size.
pub const MAX_LOG_CALLS: usize = 64;
pub const MAX_LOG_BYTES: usize = 1024;
/// A table element counted against the memory cap (a pointer-sized slot).
const TABLE_ELEMENT_BYTES: usize = 8;
/// The interfaces whose functions we replace: WASI's `poll` (the version
/// wasmtime-wasi links, which serves every 0.2.x import) and our `host`.
const WASI_POLL: &str = "wasi:io/poll@0.2.12";
/// The host interface of every line this host speaks: each one's `log` is
/// replaced the same way.
const HOST_INTERFACES: &[&str] = &["autorepair:rules/host@0.2.3", "autorepair:rules/host@0.1.0"];

/// Per-rule resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock budget of one call (instantiate + evaluate), in ms. The bundled
    /// rules need well under 1 ms for a 1,000-invocation incident.
    pub cpu_budget_ms: u64,
    /// Cap on the rule's linear memory, in MiB.
    pub memory_mib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_budget_ms: 50,
            memory_mib: 64,
        }
    }
}

/// A message a rule logged through the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleLog {
    pub level: String,
    pub message: String,
}

/// What a call leaves behind besides its result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallReport {
    pub logs: Vec<RuleLog>,
    /// Log calls past [`MAX_LOG_CALLS`], dropped.
    pub logs_dropped: usize,
    pub peak_memory_bytes: usize,
    /// Instructions' worth of fuel the call burnt; only in a metered sandbox
    /// (`rule test`), where it is a repeatable measure of a rule's work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_used: Option<u64>,
}

/// The data of one store: a WASI context with nothing in it, and the accounting.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryCap,
    stderr: MemoryOutputPipe,
    report: CallReport,
    rule: String,
    /// What `statistics.incident` and `statistics.find-leak` answer during this call.
    pub(crate) statistics: Option<Arc<Statistics>>,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

// The generated traits: `log` is replaced in the linker (see
// `replace_host_calls`), so these bodies are what an unreplaced call would do.
impl v0_2::autorepair::rules::types::Host for State {}

impl v0_2::autorepair::rules::statistics::Host for State {
    fn incident(&mut self) -> IncidentStatistics {
        match &self.statistics {
            Some(statistics) => statistics.incident.clone(),
            None => super::statistics::empty(),
        }
    }

    fn find_leak(&mut self) -> Option<Leak> {
        self.statistics.as_ref().and_then(|s| s.leak())
    }
}
impl v0_2::autorepair::rules::environments::Host for State {
    fn report_streams(&mut self) -> Vec<String> {
        self.statistics
            .as_ref()
            .map(|s| s.report_streams())
            .unwrap_or_default()
    }

    fn line_streams(&mut self) -> Vec<String> {
        self.statistics
            .as_ref()
            .map(|s| s.line_streams())
            .unwrap_or_default()
    }
}
impl v0_2::autorepair::rules::changes::Host for State {
    fn recent(&mut self) -> Vec<v0_2::autorepair::rules::changes::FunctionChange> {
        self.statistics
            .as_ref()
            .map(|s| s.changes())
            .unwrap_or_default()
    }
}
impl v0_1::autorepair::rules::types::Host for State {}

impl v0_2::autorepair::rules::host::Host for State {
    fn log(&mut self, level: Level, message: String) {
        self.log_text(level, &message);
    }
}

impl v0_1::autorepair::rules::host::Host for State {
    fn log(&mut self, level: v0_1::autorepair::rules::host::Level, message: String) {
        use v0_1::autorepair::rules::host::Level as Old;
        let level = match level {
            Old::Trace => Level::Trace,
            Old::Debug => Level::Debug,
            Old::Info => Level::Info,
            Old::Warn => Level::Warn,
            Old::Error => Level::Error,
        };
        self.log_text(level, &message);
    }
}

impl State {
    /// Keeps one log message, at most [`MAX_LOG_BYTES`] of it.
    fn log_text(&mut self, level: Level, message: &str) {
        if self.report.logs.len() >= MAX_LOG_CALLS {
            self.report.logs_dropped += 1;
            return;
        }
        // A rule's log goes to the host's log and the audit record: secrets
        // out first, before it is cut.
        let mut message = crate::text::clean(&crate::redact::redact(message).0);
        if message.len() > MAX_LOG_BYTES {
            let mut end = MAX_LOG_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        tracing::debug!(rule = %self.rule, level, message = %message, "rule log");
        self.report.logs.push(RuleLog {
            level: level.to_owned(),
            message,
        });
    }
}

/// One memory budget for the whole component — every linear memory and
/// table counted together — plus caps on what it may create; remembers
/// whether the cap was hit and the peak.
struct MemoryCap {
    cap_bytes: usize,
    used_bytes: usize,
    peak_bytes: usize,
    hit: bool,
}

impl MemoryCap {
    fn grow(&mut self, current: usize, desired: usize, unit: usize) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current).saturating_mul(unit);
        let total = self.used_bytes.saturating_add(more);
        if total > self.cap_bytes {
            self.hit = true;
            return Err(wasmtime::format_err!(
                "memory cap of {} bytes reached (memories and tables together)",
                self.cap_bytes
            ));
        }
        self.used_bytes = total;
        self.peak_bytes = self.peak_bytes.max(total);
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired, 1)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired, TABLE_ELEMENT_BYTES)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// The engine and linker shared by every rule in a process.
pub struct Sandbox {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
    /// Whether the pooling allocator could be set up (it needs a large virtual
    /// address space reservation; some environments refuse it).
    pub pooling: bool,
    max_memory_mib: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not configure the WebAssembly engine: {0}")]
    Engine(String),
}

impl Sandbox {
    /// A sandbox whose pool admits memories up to `max_memory_mib` (the largest
    /// per-rule cap in the configuration).
    pub fn new(max_memory_mib: u64) -> Result<Sandbox, SandboxError> {
        Sandbox::build(max_memory_mib, false)
    }

    /// The same sandbox, limits and linker, that also counts fuel: for
    /// `rule test`, where a repeatable work figure matters more than speed.
    pub fn metered(max_memory_mib: u64) -> Result<Sandbox, SandboxError> {
        Sandbox::build(max_memory_mib, true)
    }

    fn build(max_memory_mib: u64, metered: bool) -> Result<Sandbox, SandboxError> {
        let engine = match Engine::new(&config(Some(max_memory_mib), metered)) {
            Ok(engine) => (engine, true),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                (
                    Engine::new(&config(None, metered))
                        .map_err(|e| SandboxError::Engine(e.to_string()))?,
                    false,
                )
            }
        };
        let (engine, pooling) = engine;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
        super::bindings::v0_2::RulePlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
        super::bindings::v0_1::RulePlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
        replace_host_calls(&mut linker).map_err(|e| SandboxError::Engine(format!("{e:#}")))?;
        start_epoch_ticker(&engine);
        Ok(Sandbox {
            engine,
            linker,
            pooling,
            max_memory_mib,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A fresh store for one call of rule `rule` under `limits`.
    pub(crate) fn store(&self, rule: &str, limits: Limits) -> Store<State> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        // No args, env, preopened dirs, network or stdin: the WASI defaults.
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        let cap_mib = limits.memory_mib.min(self.max_memory_mib);
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                cap_bytes: (cap_mib as usize) << 20,
                used_bytes: 0,
                peak_bytes: 0,
                hit: false,
            },
            stderr,
            report: CallReport::default(),
            rule: rule.to_owned(),
            statistics: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(deadline_ticks(limits.cpu_budget_ms));
        store.epoch_deadline_trap();
        // Fails only when fuel is off (an unmetered sandbox): nothing to set.
        let _ = store.set_fuel(FUEL);
        store
    }
}

/// Readies a store kept from an earlier call (a bundled rule's warm instance)
/// for the next: a new deadline, an empty report, fuel counted from zero.
pub(crate) fn rearm(store: &mut Store<State>, limits: Limits) {
    let state = store.data_mut();
    state.report = CallReport::default();
    state.statistics = None;
    store.set_epoch_deadline(deadline_ticks(limits.cpu_budget_ms));
    // Fails only when fuel is off (an unmetered sandbox): nothing to set.
    let _ = store.set_fuel(FUEL);
}

/// Replaces host functions that a rule could use to outlast its deadline or
/// to make the host copy more than it keeps: WASI's waiting calls and `log`.
fn replace_host_calls(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(WASI_POLL)?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, State>, (pollables,): (Vec<Resource<DynPollable>>,)| {
            let table = &mut store.data_mut().table;
            let mut ready = Vec::new();
            for (index, pollable) in pollables.iter().enumerate() {
                if is_ready(table, pollable)? {
                    ready.push(index as u32);
                }
            }
            if ready.is_empty() {
                return Err(wasmtime::format_err!("{WAITED}"));
            }
            Ok((ready,))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, State>, (pollable,): (Resource<DynPollable>,)| {
            if is_ready(&mut store.data_mut().table, &pollable)? {
                Ok(())
            } else {
                Err(wasmtime::format_err!("{WAITED}"))
            }
        },
    )?;
    // The message stays in guest memory: only its first MAX_LOG_BYTES are
    // read, however long it is. The level is an enum of the same cases in
    // every line, lifted here as its index.
    for interface in HOST_INTERFACES {
        linker.instance(interface)?.func_wrap(
            "log",
            |mut store: StoreContextMut<'_, State>, (level, message): (Level, WasmStr)| {
                let text = message.to_str(&store)?;
                let mut end = text.len().min(MAX_LOG_BYTES + 4);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let kept = text[..end].to_owned();
                store.data_mut().log_text(level, &kept);
                Ok(())
            },
        )?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Why a call that tried to wait ended.
pub const WAITED: &str =
    "the rule tried to wait (a sleep, or a poll on a clock or stream): rules may not block";

/// Whether `pollable` is ready now, without waiting. The check runs in
/// wasmtime-wasi's tokio context (a clock pollable is a tokio timer) and polls
/// once: it never waits.
fn is_ready(table: &mut ResourceTable, pollable: &Resource<DynPollable>) -> wasmtime::Result<bool> {
    let borrowed = Resource::new_borrow(pollable.rep());
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| {
        let ready = std::pin::pin!(HostPollable::ready(table, borrowed));
        // `ready` resolves at its first poll; anything else counts as not ready.
        wasmtime_wasi::runtime::poll_noop(ready).unwrap_or(Ok(false))
    })
}

/// A metered store's fuel: never the limit (the CPU deadline is), only a counter.
const FUEL: u64 = u64::MAX / 2;

fn deadline_ticks(budget_ms: u64) -> u64 {
    let tick_ms = EPOCH_TICK.as_millis() as u64;
    budget_ms.div_ceil(tick_ms).max(1)
}

/// Advances the engine's epoch every tick; holds only a weak reference, so the
/// thread ends when the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = thread::Builder::new()
        .name("autorepair-epoch".into())
        .spawn(move || {
            loop {
                thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the epoch ticker: CPU budgets will not be enforced");
    }
}

/// Turns a failed call into the cause people should read.
pub(crate) fn classify(
    error: wasmtime::Error,
    store: &Store<State>,
    limits: Limits,
) -> FailureCause {
    let state = store.data();
    if state.limiter.hit {
        return FailureCause::MemoryCap(limits.memory_mib);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FailureCause::CpuBudget(limits.cpu_budget_ms),
        Some(Trap::StackOverflow) => FailureCause::StackOverflow,
        Some(trap) => {
            let stderr = String::from_utf8_lossy(&state.stderr.contents()).into_owned();
            match panic_message(&stderr) {
                Some(message) => FailureCause::Panic(message),
                None => FailureCause::Trap(trap.to_string()),
            }
        }
        // A host function's error: ours (a wait) named plainly, anything else
        // on one clean line without the wasm backtrace wasmtime puts first.
        None if error.chain().any(|e| e.to_string() == WAITED) => FailureCause::Trap(WAITED.into()),
        None => FailureCause::Trap(crate::text::clean(
            &error
                .root_cause()
                .to_string()
                .chars()
                .take(300)
                .collect::<String>(),
        )),
    }
}

/// Rust's panic hook prints `panicked at src/lib.rs:9:9:\n<message>`. A Python
/// rule (componentize-py) prints its traceback first and then panics in the
/// runtime; the traceback's last line (`ValueError: …`) is the useful part.
fn panic_message(stderr: &str) -> Option<String> {
    let at = stderr.find("panicked at ")?;
    let mut text: String = stderr[at..].lines().take(3).collect::<Vec<_>>().join(" ");
    if let Some(tb) = stderr[..at].rfind("Traceback (most recent call last)")
        && let Some(error) = stderr[tb..at]
            .lines()
            .rev()
            .find(|l| !l.is_empty() && !l.starts_with(' '))
    {
        text = format!("{error} ({text})");
    }
    Some(crate::text::clean(
        &text.chars().take(500).collect::<String>(),
    ))
}

pub(crate) fn take_report(store: &mut Store<State>) -> CallReport {
    let state = store.data_mut();
    let mut report = std::mem::take(&mut state.report);
    report.peak_memory_bytes = state.limiter.peak_bytes;
    report.fuel_used = store.get_fuel().ok().map(|left| FUEL - left);
    report
}
