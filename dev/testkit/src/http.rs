//! HTTP GETs of a test's own servers (metrics, readiness, admin endpoints), each bounded: a server
//! that stalls fails the test with the URL instead of hanging it (`reqwest::get` has no timeout).

use std::sync::OnceLock;
use std::time::Duration;

/// Longest wait for one answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_else(|e| panic!("an HTTP client: {e}"))
    })
}

async fn get(url: &str) -> reqwest::Response {
    client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url} (bounded by {TIMEOUT:?}): {e}"))
}

/// The body of `url` as text, whatever the status.
pub async fn get_text(url: &str) -> String {
    get(url)
        .await
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading the body of {url}: {e}"))
}

/// The status code of `url`.
pub async fn get_status(url: &str) -> u16 {
    get(url).await.status().as_u16()
}

/// The JSON body of `url`, which must answer 200.
pub async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    let response = get(url).await;
    let status = response.status().as_u16();
    assert_eq!(status, 200, "GET {url} answered {status}");
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("the JSON body of {url}: {e}"))
}
