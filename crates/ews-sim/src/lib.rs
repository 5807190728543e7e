//! A faithful Exchange (EWS) contacts server for tests, benchmarks and demos.

pub mod store;
