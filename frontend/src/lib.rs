//! cosmosq's web interface: a Leptos client-side app over the daemon's REST API and event
//! stream. The Smart Batching preview is planned in the browser with the shared engine.
//!
//! `preview`, `model` and `insights` are pure and compile everywhere (tested natively); the rest is the
//! browser app and builds for wasm32 only.

pub mod insights;
pub mod model;
pub mod preview;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod bench;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod events;
#[cfg(target_arch = "wasm32")]
mod pages;
#[cfg(target_arch = "wasm32")]
mod routes;
#[cfg(target_arch = "wasm32")]
mod store;

#[cfg(target_arch = "wasm32")]
pub use app::App;
