mod auth;
mod devices;
mod input;
mod tokens;
