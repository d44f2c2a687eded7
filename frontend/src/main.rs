//! Entry point of the browser app: install the panic hook and mount.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(cosmosq_frontend::App);
}

/// The app runs only in the browser (`trunk build`); on the host only the library's pure
/// view-model is built and tested.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("cosmosq-frontend runs in the browser: build it with `trunk build --release`");
}
