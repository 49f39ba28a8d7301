//! Shared by the benchmarks: the harness (pairs, timing, memory), the queue
//! they run on, the naive reader mqctl is compared with, and a model of the
//! writer's start-up scan.

pub mod fixture;
pub mod harness;
pub mod naive;
pub mod writer;
