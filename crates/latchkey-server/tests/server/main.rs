//! The credit service against real components: a throwaway PostgreSQL cluster, the test
//! OpenID Provider (real ID tokens), and the server itself on a loopback port.

mod api;
mod auth;
mod balance_trigger;
mod cli;
mod crash;
mod fleet;
mod import;
mod ledger;
mod migrations;
mod model;
mod openapi;
mod operator;
mod report;
mod shop;
mod support;
mod sync;
mod sync_model;
mod upgrade;
mod vouchers;
