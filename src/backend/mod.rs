//! Stores. Each store lives in one module; the orchestration dispatches on the target kind
//! once, so each store's hot loop is monomorphic.

pub mod postgres;
