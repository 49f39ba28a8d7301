//! Shared by the benchmarks: the harness (pairs, timing, memory), the queue
//! they run on, and the naive reader mqctl is compared with.

pub mod fixture;
pub mod harness;
pub mod naive;
