//! The wasmtime side: one engine per process (pooling allocator, epoch
//! interruption), a linker offering an empty WASI context and the `host` interface,
//! and one fresh store per call with a CPU deadline and a memory cap.

use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{Host, Level, TypesHost};
use crate::model::FailureCause;

/// How often the epoch ticker advances: the granularity of CPU deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);
/// Concurrent rule instances the pooling allocator reserves room for.
const POOL_SLOTS: u32 = 128;
/// What a rule may write to stderr (where a Rust panic message goes) before its
/// writes fail; kept to report why a rule panicked.
const STDERR_CAPTURE_BYTES: usize = 16 * 1024;
/// Per call: at most this many `log` calls reach the host, each cut to this size.
pub const MAX_LOG_CALLS: usize = 64;
pub const MAX_LOG_BYTES: usize = 1024;

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
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl TypesHost for State {}

impl Host for State {
    fn log(&mut self, level: Level, message: String) {
        if self.report.logs.len() >= MAX_LOG_CALLS {
            self.report.logs_dropped += 1;
            return;
        }
        let mut message = message;
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

/// Caps linear memory and remembers whether the cap was hit and the peak.
struct MemoryCap {
    cap_bytes: usize,
    peak_bytes: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap_bytes {
            self.hit = true;
            return Err(wasmtime::format_err!(
                "memory cap of {} bytes reached",
                self.cap_bytes
            ));
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        /// Rust guests use one small function table; this is far above any.
        const MAX_TABLE_ELEMENTS: usize = 100_000;
        Ok(desired <= MAX_TABLE_ELEMENTS)
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
        super::bindings::RulePlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
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
                peak_bytes: 0,
                hit: false,
            },
            stderr,
            report: CallReport::default(),
            rule: rule.to_owned(),
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

/// A metered store's fuel: never the limit (the CPU deadline is), only a counter.
const FUEL: u64 = u64::MAX / 2;

fn config(pool_memory_mib: Option<u64>, metered: bool) -> Config {
    let mut config = Config::new();
    config.consume_fuel(metered);
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.parallel_compilation(true);
    if let Some(mib) = pool_memory_mib {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 4)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 4)
            .max_memory_size((mib as usize) << 20)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Rust guests put a 1 MiB shadow stack at the bottom of linear memory and the
/// heap right above it. Keeping that much of a pooled slot resident between
/// calls (zeroed, not unmapped) saves re-faulting those pages on every call:
/// measured 110 → 78 µs per `oom` call on a 1,000-invocation incident.
const KEEP_RESIDENT_BYTES: usize = 1200 << 10;

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
        None => FailureCause::Trap(format!("{error:#}")),
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
    Some(text.chars().take(500).collect())
}

pub(crate) fn take_report(store: &mut Store<State>) -> CallReport {
    let state = store.data_mut();
    let mut report = std::mem::take(&mut state.report);
    report.peak_memory_bytes = state.limiter.peak_bytes;
    report.fuel_used = store.get_fuel().ok().map(|left| FUEL - left);
    report
}
