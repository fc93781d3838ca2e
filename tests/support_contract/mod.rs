//! Helpers of the contract tests (tests/contract.rs): Clerk's OpenAPI spec and Prism.

pub mod prism;
pub mod spec;
