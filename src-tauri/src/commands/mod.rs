//! The commands the UI calls, named `noun_verb` after the CLI's. Each parses, delegates to
//! `latchkey-core`, and converts; errors reach the UI as `{code, message}`.

pub mod analytics;
pub mod auth;
pub mod credits;
pub mod startup;
pub mod sync;
pub mod wallet;
