//! The reference for the API load bench (`bench/api_load.py`): a bare actix-web server with
//! the daemon's defaults (same actix version, worker count and JSON extractor) and no queue,
//! store or middleware. `GET /queue` returns a small fixed JSON; `POST /jobs` parses a JSON
//! body and answers 201 with a small JSON. Whatever the daemon's figures fall short of these
//! in the same run is the daemon's own cost.
//!
//! `cargo run --release -p cosmosq --example bare_actix` prints
//! `bare actix listening on http://127.0.0.1:PORT` (set `BIND` to choose the address).

use actix_web::{get, post, web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

#[get("/queue")]
async fn queue() -> HttpResponse {
    HttpResponse::Ok().json(json!({"paused": true, "counts": {"queued": 0}, "jobs": []}))
}

#[post("/jobs")]
async fn jobs(body: web::Json<Value>) -> HttpResponse {
    let prompt = body.get("prompt_id").cloned().unwrap_or(Value::Null);
    HttpResponse::Created().json(json!({"id": "jb_0000000000000000", "prompt_id": prompt}))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = std::net::TcpListener::bind(&bind)?;
    println!("bare actix listening on http://{}", listener.local_addr()?);
    HttpServer::new(|| App::new().service(queue).service(jobs))
        .listen(listener)?
        .disable_signals()
        .run()
        .await
}
