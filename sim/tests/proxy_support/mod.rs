//! Driving `headroom proxy` from a test: starting one, posting to it, reading its metrics.
#![allow(dead_code, reason = "each proxy test uses a part of these helpers")]

use crate::mock_support::{self, Mock};

/// Starts `headroom proxy --listen 127.0.0.1:0 --upstream {upstream}` with `args`; the server
/// and its base URL.
pub fn start(upstream: &str, args: &[&str]) -> (Mock, String) {
    let mut all = vec!["proxy", "--listen", "127.0.0.1:0", "--upstream", upstream];
    all.extend_from_slice(args);
    mock_support::spawn(&all)
}

/// An address nothing listens on (it was free a moment ago).
pub fn closed_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `POST {base}/v1/messages` with `body`: the status, headers and JSON body (`null` if none).
pub async fn post(base: &str, body: &str) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/messages"))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap_or_default())
}

/// The proxy's `/metrics` page.
pub async fn metrics(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Requests waiting in the proxy's queue for `lane`, as `/metrics` says.
pub async fn queue_length(base: &str, lane: &str) -> u64 {
    let page = metrics(base).await;
    sample(
        &page,
        &format!("headroom_proxy_queue_length{{lane=\"{lane}\"}}"),
    )
}

/// The sum of the samples on `page` whose line starts with `prefix` (a name, with labels).
pub fn sample(page: &str, prefix: &str) -> u64 {
    page.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
