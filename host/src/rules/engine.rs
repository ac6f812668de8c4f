//! The WebAssembly engine's configuration: one definition for the host and
//! for host/build.rs, which precompiles the bundled rules with it so that a
//! start only deserializes them. This file is included by the build script
//! too (`#[path]`), so it names nothing but `wasmtime` and `std`.

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Concurrent rule instances the pooling allocator reserves room for.
pub const POOL_SLOTS: u32 = 128;
/// What one component may create: a Rust rule has ~5 core instances, one
/// memory and a few tables; a Python rule (componentize-py) ~20 instances and
/// as many tables. Far above both, far below wasmtime's 10,000 per store.
pub const MAX_INSTANCES: usize = 64;
pub const MAX_MEMORIES: usize = 4;
pub const MAX_TABLES: usize = 64;
/// Rust guests put their shadow stack at the bottom of linear memory and the
/// heap right above it. Keeping that much of a pooled slot resident between
/// calls (zeroed, not unmapped) saves re-faulting those pages on every call:
/// measured 110 → 78 µs per `oom` call on a 1,000-invocation incident.
pub const KEEP_RESIDENT_BYTES: usize = 1200 << 10;

/// The engine's configuration: the pooling allocator sized for memories of
/// `pool_memory_mib` (none: allocate on demand), epoch interruption for the
/// deadlines, fuel only when `metered`.
///
/// What goes into compiled code (the tunables, the wasm features, fuel,
/// epochs) must stay the same for the build script and the host, or the
/// embedded artifacts stop matching and every start compiles again (the
/// host checks, and recompiles rather than fail).
pub fn config(pool_memory_mib: Option<u64>, metered: bool) -> Config {
    let mut config = Config::new();
    config.consume_fuel(metered);
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.parallel_compilation(true);
    if let Some(mib) = pool_memory_mib {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 8)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 8)
            .max_core_instances_per_component(MAX_INSTANCES as u32)
            .max_memories_per_component(MAX_MEMORIES as u32)
            .max_tables_per_component(MAX_TABLES as u32)
            .max_memory_size((mib as usize) << 20)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(64 << 10)
            // Where the kernel can say which pages a call wrote (Linux 6.7+),
            // only those are reset when a fresh instance's slot is reused,
            // instead of zeroing all that is kept resident.
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}
