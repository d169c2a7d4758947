//! The opt-in Prometheus endpoint (`metrics_listen`): `GET /metrics` answers the text
//! exposition format rendered by [`crate::driver::status::render_prometheus`] from a
//! fresh status report asked of the event loop; anything else is 404.
//!
//! Served with hyper 1 (HTTP/1 only): small, well kept, and already built on tokio.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::driver::control::{Command, ControlRequest, ask_loop};
use crate::driver::status::render_prometheus;

/// The text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The running endpoint; dropping it stops serving.
#[derive(Debug)]
pub struct MetricsServer {
    task: JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Metrics connections served at once; Prometheus needs one per scraper.
const MAX_CONNECTIONS: usize = 32;
/// How long one connection may last, keep-alive included.
const CONNECTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30);

impl MetricsServer {
    pub async fn bind(
        address: SocketAddr,
        requests: mpsc::Sender<ControlRequest>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        // Bounded: every connection holds a file descriptor, and a daemon out of them
        // cannot run its checks (a false failover: benches/abuse.sh found it with 1,100
        // idle connections). At the cap, new connections wait in the listen backlog.
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let task = tokio::spawn(async move {
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return; // closed: cannot happen, the semaphore lives here
                };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        warn!("metrics accept failed: {error}");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let requests = requests.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let service = hyper::service::service_fn(move |request| {
                        let requests = requests.clone();
                        async move { Ok::<_, Infallible>(answer(request, &requests).await) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    // A scrape takes milliseconds; a connection that lasts longer than this
                    // (idle, or sending its headers a byte at a time) gives its slot back.
                    match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => debug!("metrics connection from {peer}: {error}"),
                        Err(_) => debug!(
                            "metrics connection from {peer}: closed after {}s",
                            CONNECTION_LIFETIME.as_secs()
                        ),
                    }
                });
            }
        });
        Ok(MetricsServer { task })
    }
}

async fn answer<B>(
    request: Request<B>,
    requests: &mpsc::Sender<ControlRequest>,
) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, text: String| {
        let mut response = Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = status;
        if let Ok(value) = hyper::header::HeaderValue::from_str(CONTENT_TYPE) {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    };
    if request.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "try /metrics\n".to_owned());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".to_owned());
    }
    let response = ask_loop(requests, Command::Status).await;
    match response.status {
        Some(report) => {
            let mut text = render_prometheus(&report);
            text.push_str(&process_memory());
            plain(StatusCode::OK, text)
        }
        None => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            response.error.unwrap_or_default() + "\n",
        ),
    }
}

/// `process_resident_memory_bytes`, the name Prometheus client libraries use, from
/// `/proc/self/statm` (its second field, in pages). Empty if it cannot be read: a
/// metrics scrape never fails for it.
fn process_memory() -> String {
    let resident_pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok());
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|size| u64::try_from(size).ok());
    match (resident_pages, page_size) {
        (Some(pages), Some(size)) => format!(
            "# HELP process_resident_memory_bytes Resident memory of the vrrpd process.\n\
             # TYPE process_resident_memory_bytes gauge\n\
             process_resident_memory_bytes {}\n",
            pages * size
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_memory_reports_this_process_in_bytes() {
        let text = process_memory();
        let value: u64 = text
            .lines()
            .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no sample in {text:?}"));
        // A test binary resides in at least a megabyte and far less than a terabyte.
        assert!((1 << 20..1 << 40).contains(&value), "{value}");
    }
}
