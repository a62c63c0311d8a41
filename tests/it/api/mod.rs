mod auth;
mod devices;
mod input;
mod lifecycle;
mod tokens;
