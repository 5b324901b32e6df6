//! `headroom mock` and `headroom proxy` on SIGTERM and SIGINT, as systemd or Kubernetes stop
//! them: no new connections, the requests in flight answered in full, one line on standard
//! error, exit 0; a second signal while they wait exits at once.
//!
//! That a request is in flight is seen, not slept for: the mock allows one request a minute
//! (`--rpm 1`, a burst of one) and no input (`--itpm 1`), so a probe that can never fit is
//! refused at once and its headers say whether the request bucket is taken, which is the
//! request in flight's admission. Timeouts are generous: the shared 2-core machine is loaded.
#![cfg(unix)]

mod mock_support;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use mock_support::Mock;

/// The longest a server may take to exit after the last answer.
const EXIT_WITHIN: Duration = Duration::from_secs(30);

/// The mock's flags: every request in flight is visible to a probe (see the module docs).
fn mock_flags(latency_ms: &str) -> Vec<&str> {
    vec![
        "mock",
        "--listen",
        "127.0.0.1:0",
        "--latency-ms",
        latency_ms,
        "--rpm",
        "1",
        "--itpm",
        "1",
    ]
}

/// Sends `signal` (`TERM`, `INT`) to the server with `kill`.
fn kill(server: &mut Mock, signal: &str) {
    let pid = server.child().id().to_string();
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}: {status}");
}

/// The server's exit status, waited for at most `within`.
fn exit_status(child: &mut Child, within: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < within,
            "still running {within:?} after the signal"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Everything the server wrote to its (piped) standard error.
fn stderr(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Posts a Messages request to `base` with `input` tokens (the mock reads the header).
async fn post(base: &str, input: u64) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/v1/messages"))
        .header("x-mock-input-tokens", input.to_string())
        .body(r#"{"model":"m","max_tokens":10,"messages":[]}"#)
        .send()
        .await
        .unwrap()
}

/// Waits until the mock at `base` has admitted a request: a probe that can never fit is
/// refused at once, its headers saying whether the one-a-minute request bucket is taken.
async fn until_admitted(base: &str) {
    let started = Instant::now();
    loop {
        let probe = post(base, 1_000).await;
        assert_eq!(probe.status(), 429);
        let remaining = probe.headers()["anthropic-ratelimit-requests-remaining"]
            .to_str()
            .unwrap()
            .to_owned();
        if remaining == "0" {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no request admitted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a TCP connection to `base` (`http://HOST:PORT`) is refused.
async fn refused(base: &str) -> bool {
    let address = base.trim_start_matches("http://");
    tokio::net::TcpStream::connect(address).await.is_err()
}

/// A request sent to `base` in the background: its status and JSON body once answered.
fn answer_of(base: &str) -> tokio::task::JoinHandle<(u16, serde_json::Value)> {
    let base = base.to_owned();
    tokio::spawn(async move {
        let response = post(&base, 0).await;
        let status = response.status().as_u16();
        (status, response.json::<serde_json::Value>().await.unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_the_mock_stops_accepting_answers_its_request_in_flight_and_exits_0() {
    let (mut mock, base) = mock_support::spawn_piped(&mock_flags("4000"));
    let in_flight = answer_of(&base);
    until_admitted(&base).await;
    kill(&mut mock, "TERM");
    let started = Instant::now();
    while !refused(&base).await {
        assert!(
            started.elapsed() < EXIT_WITHIN,
            "still accepting connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "message", "{body}");
    assert_eq!(body["usage"]["output_tokens"], 10, "{body}");
    let exit = exit_status(mock.child(), EXIT_WITHIN);
    assert_eq!(exit.code(), Some(0), "{exit}");
    let log = stderr(mock.child());
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(
        log.starts_with("headroom mock: SIGTERM received: shutting down"),
        "{log}"
    );
}

#[test]
fn an_idle_mock_exits_0_on_sigint() {
    let (mut mock, _) = mock_support::spawn_piped(&mock_flags("1"));
    kill(&mut mock, "INT");
    let exit = exit_status(mock.child(), EXIT_WITHIN);
    assert_eq!(exit.code(), Some(0), "{exit}");
    assert!(stderr(mock.child()).contains("SIGINT received: shutting down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_without_the_request_in_flight() {
    // A request that would take ten minutes: the test ends long before unless the second
    // signal cuts the wait short.
    let (mut mock, base) = mock_support::spawn_piped(&mock_flags("600000"));
    let in_flight = tokio::spawn({
        let base = base.clone();
        async move { post(&base, 0).await.status() }
    });
    until_admitted(&base).await;
    kill(&mut mock, "TERM");
    // The first signal is handled (its line written) before the second is sent.
    let mut lines = BufReader::new(mock.child().stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(
        EXIT_WITHIN,
        tokio::task::spawn_blocking(move || lines.next().unwrap().unwrap()),
    )
    .await
    .expect("no line on standard error after SIGTERM")
    .unwrap();
    assert!(first.contains("SIGTERM received: shutting down"), "{first}");
    kill(&mut mock, "INT");
    let exit = exit_status(mock.child(), EXIT_WITHIN);
    assert_eq!(exit.code(), Some(130), "{exit}");
    in_flight.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sigterm_the_proxy_answers_its_request_in_flight_in_full_and_exits_0() {
    // The audit's symptom: curl through the proxy got an empty reply (exit 52) on SIGTERM.
    let (_mock, upstream) = mock_support::spawn(&mock_flags("4000"));
    let (mut proxy, base) = {
        let mut all = vec!["proxy", "--listen", "127.0.0.1:0", "--upstream", &upstream];
        all.extend_from_slice(&["--rpm", "1000"]);
        mock_support::spawn_piped(&all)
    };
    let in_flight = answer_of(&base);
    until_admitted(&upstream).await;
    kill(&mut proxy, "TERM");
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["output_tokens"], 10, "{body}");
    let exit = exit_status(proxy.child(), EXIT_WITHIN);
    assert_eq!(exit.code(), Some(0), "{exit}");
    let log = stderr(proxy.child());
    assert!(log.contains("SIGTERM received: shutting down"), "{log}");
}
