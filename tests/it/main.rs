//! One integration binary: the real server on a loopback port, a fresh database per test.

mod helpers;
mod openapi;
mod operations;
mod readme;
mod scale;
mod screens;
mod search;
mod security;

mod api;
mod browser;
mod cli;
mod clock;
mod console;
mod counts;
mod device_token;
mod exports;
mod hostile;
mod import;
mod insight;
mod lifecycle_console;
mod listener;
mod signin;
mod tls;
mod token_sweep;
mod webhooks;
