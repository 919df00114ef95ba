//! Integration tests: the HTTP API through a real server on a random port,
//! on SQLite and on PostgreSQL.

mod helpers;

mod audit;
mod auth;
mod catalog;
mod console;
mod counts;
mod disclosure;
mod health;
mod national;
mod openapi;
mod oracle;
mod privacy;
mod race;
mod regional;
mod sdmx;
mod snapshot;
mod synthetic;
mod tokens;
mod workload;
