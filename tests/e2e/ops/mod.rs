//! Running Ferry: health, metrics and the OpenAPI document, the command
//! line, the audit trail, bad input, durability under `kill -9`, and
//! several nodes behind a proxy.

mod audit;
mod backup;
mod bad_input;
mod cli;
mod deadline;
mod durability;
mod https;
mod service;
mod several_nodes;
mod web_delivery;
