//! A cargo runner for wasm32-wasip2 test binaries, so the rules' own unit tests
//! run in WebAssembly as well as natively (tests/test.sh sets it as
//! `CARGO_TARGET_WASM32_WASIP2_RUNNER`). Unlike the rule sandbox it inherits
//! stdio, args and env: it runs our own test programs, not untrusted rules.
//!
//!     wasi_run TEST.wasm [ARGS...]

use std::process::ExitCode;

use wasmtime::component::{Component, Linker, ResourceTable, Val};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

struct State {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

fn main() -> wasmtime::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(program) = args.first() else {
        eprintln!("usage: wasi_run TEST.wasm [ARGS...]");
        return Ok(ExitCode::from(2));
    };
    let engine = Engine::default();
    let mut linker = Linker::<State>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    // Rules under test may log through the host (any line): print what
    // they say.
    for host in ["autorepair:rules/host@0.2.0", "autorepair:rules/host@0.1.0"] {
        linker
            .root()
            .instance(host)?
            .func_new("log", |_store, _ty, params, _results| {
                if let [level, Val::String(message)] = params {
                    eprintln!("[rule log {level:?}] {message}");
                }
                Ok(())
            })?;
    }
    let component = Component::from_file(&engine, program)?;
    let mut builder = WasiCtx::builder();
    builder.inherit_stdio().inherit_env().args(&args);
    let state = State {
        ctx: builder.build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    let command = Command::instantiate(&mut store, &component, &linker)?;
    match command.wasi_cli_run().call_run(&mut store) {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(())) => Ok(ExitCode::FAILURE),
        Err(trap) => {
            eprintln!("wasi_run: {program} trapped: {trap:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
