//! The metrics listener: `GET /metrics`, `/healthz` and `/readyz`, HTTP/1.1, one request per
//! connection. Bound before the first round, so a taken or malformed address is an error at
//! start. Whatever connects is untrusted: a request is read for at most `REQUEST_TIME` and
//! `REQUEST_MAX` bytes, and at most `CONNECTIONS` are served at once.

use super::registry::Registry;
use crate::engine::Error;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

const REQUEST_TIME: Duration = Duration::from_secs(5);
const REQUEST_MAX: usize = 8 << 10;
const CONNECTIONS: usize = 16;

/// A bound metrics address.
pub struct Listener {
    listener: TcpListener,
    pub address: SocketAddr,
}

/// Binds `ADDR:PORT` (`127.0.0.1:9187`, `[::1]:9187`, `0.0.0.0:9187`). A malformed address
/// or one that is taken is a usage error (exit 2).
pub async fn bind(text: &str) -> Result<Listener, Error> {
    let address: SocketAddr = text.trim().parse().map_err(|_| {
        Error::usage(format!(
            "--metrics-listen '{}': expected ADDR:PORT, such as 127.0.0.1:9187 or [::1]:9187",
            crate::engine::text::shown(text)
        ))
    })?;
    let listener = TcpListener::bind(address).await.map_err(|e| {
        Error::usage(format!(
            "--metrics-listen {address}: cannot listen there: {e}"
        ))
    })?;
    let address = listener.local_addr().unwrap_or(address);
    Ok(Listener { listener, address })
}

/// Serves until the process ends. `ready_within` is the readiness limit.
pub async fn serve(listener: Listener, registry: Arc<Mutex<Registry>>, ready_within: Duration) {
    let permits = Arc::new(Semaphore::new(CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(REQUEST_TIME, answer(stream, &registry, ready_within)).await;
            drop(permit);
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    registry: &Mutex<Registry>,
    ready_within: Duration,
) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < REQUEST_MAX {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..n]);
    }
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            lock(registry).render(),
        ),
        ("GET" | "HEAD", "/healthz") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET" | "HEAD", "/readyz") => match lock(registry).readiness(ready_within) {
            Ok(()) => ("200 OK", "text/plain", "ready\n".to_string()),
            Err(why) => (
                "503 Service Unavailable",
                "text/plain",
                format!("not ready: {why}\n"),
            ),
        },
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain",
            "not found: try /metrics, /healthz or /readyz\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

/// The registry even if a writer panicked while holding it: metrics are better stale than gone.
fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(|e| e.into_inner())
}
