//! Running Ferry: health, metrics and the OpenAPI document, the command
//! line, the audit trail, bad input, and durability under `kill -9`.

mod audit;
mod backup;
mod bad_input;
mod cli;
mod durability;
mod https;
mod service;
mod web_delivery;
