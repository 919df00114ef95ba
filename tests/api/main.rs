//! Integration tests: the HTTP API through a real server on a random port,
//! on SQLite and on PostgreSQL.

mod helpers;

mod auth;
mod counts;
mod health;
mod national;
mod openapi;
mod race;
