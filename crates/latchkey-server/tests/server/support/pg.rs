//! The throwaway PostgreSQL cluster these tests run against: latchkey-testkit's (one cluster per
//! test binary, one fresh database per test), shared with the CLI's service tests.

pub use latchkey_testkit::pg::*;
