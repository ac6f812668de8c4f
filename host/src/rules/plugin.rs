//! A rule component linked for its line of the interface, run in the
//! sandbox's stores: the one place that calls a rule's exports.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use super::bindings::{Line, RawInfo, View, conv_v0_1, conv_v0_2, v0_1, v0_2};
use super::sandbox::State;
use crate::model::Finding;

/// A rule component linked for its line, ready to instantiate.
pub(crate) enum Plugin {
    V0_2(v0_2::RulePluginPre<State>),
    V0_1(v0_1::RulePluginPre<State>),
}

impl Plugin {
    pub(crate) fn new(line: Line, pre: InstancePre<State>) -> wasmtime::Result<Plugin> {
        Ok(match line {
            Line::V0_2 => Plugin::V0_2(v0_2::RulePluginPre::new(pre)?),
            Line::V0_1 => Plugin::V0_1(v0_1::RulePluginPre::new(pre)?),
        })
    }

    pub(crate) fn line(&self) -> Line {
        match self {
            Plugin::V0_2(_) => Line::V0_2,
            Plugin::V0_1(_) => Line::V0_1,
        }
    }

    /// A fresh instance, its `describe` not called: the fixed cost of a call.
    pub(crate) fn instantiate(&self, store: &mut Store<State>) -> wasmtime::Result<()> {
        match self {
            Plugin::V0_2(pre) => pre.instantiate(store).map(drop),
            Plugin::V0_1(pre) => pre.instantiate(store).map(drop),
        }
    }

    pub(crate) fn describe(&self, store: &mut Store<State>) -> wasmtime::Result<RawInfo> {
        match self {
            Plugin::V0_2(pre) => {
                let plugin = pre.instantiate(&mut *store)?;
                let info = plugin.autorepair_rules_rule().call_describe(store)?;
                Ok(conv_v0_2::info(info))
            }
            Plugin::V0_1(pre) => {
                let plugin = pre.instantiate(&mut *store)?;
                let info = plugin.autorepair_rules_rule().call_describe(store)?;
                Ok(conv_v0_1::info(info))
            }
        }
    }

    /// A fresh instance in `store`, ready for [`Instance::evaluate`].
    pub(crate) fn instance(&self, store: &mut Store<State>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Plugin::V0_2(pre) => Instance::V0_2(pre.instantiate(store)?),
            Plugin::V0_1(pre) => Instance::V0_1(pre.instantiate(store)?),
        })
    }
}

/// An instantiated rule.
pub(crate) enum Instance {
    V0_2(v0_2::RulePlugin),
    V0_1(v0_1::RulePlugin),
}

impl Instance {
    /// One evaluation on `view` (converted for this instance's line).
    pub(crate) fn evaluate(
        &self,
        store: &mut Store<State>,
        view: &View,
    ) -> wasmtime::Result<Result<Vec<Finding>, String>> {
        match (self, view) {
            (Instance::V0_2(plugin), View::V0_2(evidence)) => {
                let found = plugin
                    .autorepair_rules_rule()
                    .call_evaluate(store, evidence)?;
                Ok(found.map(|f| f.into_iter().map(conv_v0_2::finding).collect()))
            }
            (Instance::V0_1(plugin), View::V0_1(evidence)) => {
                let found = plugin
                    .autorepair_rules_rule()
                    .call_evaluate(store, evidence)?;
                Ok(found.map(|f| f.into_iter().map(conv_v0_1::finding).collect()))
            }
            _ => Err(wasmtime::format_err!(
                "evidence converted for another line of the rule interface"
            )),
        }
    }
}
