//! Building and running the daemon: store, workers, HTTP server, graceful shutdown.

use crate::api::{self, ApiDoc, AuthToken};
use crate::config::Config;
use crate::csp;
use crate::events::Events;
use crate::executor;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::runner;
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::middleware::{from_fn, DefaultHeaders, Next};
use actix_web::{web, App, HttpResponse, HttpServer};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::SwaggerUi;

/// The running daemon: its HTTP server, the queue and one worker per executor slot.
pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    queue: Arc<Queue>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    grace: Duration,
}

fn spa_dir(config: &Config) -> PathBuf {
    config
        .spa_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("dist"))
}

/// `/` when the SPA has not been built.
async fn spa_missing() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><title>cosmosq</title><h1>cosmosq</h1>\
         <p>The daemon is running. The web interface is not built here; the API is at \
         <a href=\"/docs/\">/docs/</a>.</p>",
        )
}

impl Application {
    /// Open the store (recovering from the last run), bind, and start the workers.
    pub async fn build(config: Config) -> Result<Application, String> {
        let config = Arc::new(config);
        let queue = Arc::new(Queue::open(
            config.clone(),
            Events::default(),
            Arc::new(Metrics::default()),
        )?);
        let addr = config.bind_addr()?;
        let listener =
            TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?
            .port();
        let data = web::Data::from(queue.clone());
        let token = web::Data::new(AuthToken(config.token().map(str::to_string)));
        let body_limit = config.max_body_bytes;
        let spa = spa_dir(&config);
        let policy = Arc::new(csp::SpaPolicy::new(spa.join("index.html")));
        let browser = Arc::new(api::browser::BrowserPolicy {
            token: config.token().is_some(),
            bind: addr,
        });
        let server = HttpServer::new(move || {
            let policy = policy.clone();
            let browser = browser.clone();
            let (app, api) = App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(data.clone())
                .app_data(token.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(body_limit)
                        .error_handler(api::json_error),
                )
                .app_data(web::QueryConfig::default().error_handler(api::query_error))
                .app_data(web::PathConfig::default().error_handler(api::path_error))
                .service(scope("/api/v1").configure(api::configure_v1))
                .configure(api::configure_root)
                .split_for_parts();
            let settled = data.clone();
            let app = app
                .wrap(from_fn(move |req: ServiceRequest, next: Next<_>| {
                    // Reads show only durable state: a change applied in memory but not yet
                    // flushed (group commit) is waited for, not shown and then lost in a crash.
                    // The wait comes after the handler read the state, so it covers whatever
                    // the reply shows, even a change applied while the request was on its way.
                    let queue = settled.clone();
                    async move {
                        let read = req.method() == actix_web::http::Method::GET
                            && req.path().starts_with("/api/");
                        let res = next.call(req).await?;
                        if read && !queue.is_settled() {
                            let q = queue.into_inner();
                            web::block(move || q.settle())
                                .await
                                .map_err(actix_web::error::ErrorServiceUnavailable)?
                                .map_err(actix_web::Error::from)?;
                        }
                        Ok(res)
                    }
                }))
                .wrap(from_fn(move |req: ServiceRequest, next: Next<_>| {
                    api::browser::guard(browser.clone(), req, next)
                }))
                // The token first (outermost): a request without it learns nothing else.
                .wrap(from_fn(api::require_token))
                .wrap(from_fn(move |req: ServiceRequest, next: Next<_>| {
                    // Swagger UI runs inline scripts of its own; everything else gets the
                    // policy (the web interface, the API's JSON, the output videos).
                    let path = req.path();
                    let swagger = path == "/docs" || path.starts_with("/docs/");
                    let policy = policy.clone();
                    async move {
                        let mut res = next.call(req).await?;
                        if !swagger {
                            let html = res
                                .headers()
                                .get(header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .is_some_and(|t| t.starts_with("text/html"));
                            let value = if html {
                                policy.html()
                            } else {
                                policy.plain.clone()
                            };
                            res.headers_mut()
                                .insert(header::CONTENT_SECURITY_POLICY, value);
                        }
                        Ok::<_, actix_web::Error>(res)
                    }
                }))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("X-Frame-Options", "DENY"))
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .service(web::redirect("/docs", "/docs/"))
                .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", api))
                .service(web::scope("/api").default_service(web::to(api::not_found)));
            if spa.join("index.html").is_file() {
                let index = spa.join("index.html");
                app.service(
                    actix_files::Files::new("/", &spa)
                        .index_file("index.html")
                        .default_handler(web::to(move |req: actix_web::HttpRequest| {
                            // History fallback: client-side routes get the SPA.
                            let index = index.clone();
                            async move {
                                actix_files::NamedFile::open_async(index)
                                    .await
                                    .map(|f| f.into_response(&req))
                            }
                        })),
                )
            } else {
                app.route("/", web::get().to(spa_missing))
                    .default_service(web::to(api::not_found))
            }
        })
        .listen(listener)
        .map_err(|e| format!("cannot serve on {addr}: {e}"))?
        .disable_signals()
        .shutdown_timeout(2)
        .run();

        let executor = executor::from_config(&config);
        let mut workers = runner::adopt_all(queue.clone(), executor.clone());
        workers.push(tokio::spawn(crate::queue::retention_loop(queue.clone())));
        workers.push(tokio::spawn(crate::queue::deliver_loop(queue.clone())));
        workers.extend(
            config
                .executor
                .slots
                .list()
                .into_iter()
                .map(|slot| tokio::spawn(runner::worker(queue.clone(), executor.clone(), slot))),
        );
        Ok(Application {
            server,
            port,
            queue,
            workers,
            grace: Duration::from_secs(config.shutdown_grace_seconds),
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn queue(&self) -> Arc<Queue> {
        self.queue.clone()
    }

    /// Serve until SIGTERM or SIGINT, then shut down gracefully: running batches get the grace
    /// period, the rest go back to the queue, and the stop is recorded as clean.
    pub async fn run_until_stopped(self) -> Result<(), String> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        tracing::info!(port = self.port, "cosmosq is ready");
        // One machine-readable line on stdout: scripts and tests read the bound port here.
        println!(
            "cosmosq listening on http://{}:{}",
            self.queue.config().bind_addr()?.ip(),
            self.port
        );
        wait_for_signal().await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        tracing::info!("stopping: no new batches; waiting for running ones");
        self.queue.shutdown(self.grace).await;
        for w in self.workers {
            w.abort();
        }
        handle.stop(true).await;
        let _ = server.await;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("can listen for SIGTERM");
    let mut int = signal(SignalKind::interrupt()).expect("can listen for SIGINT");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
