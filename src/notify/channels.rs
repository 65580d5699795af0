//! The wire side of each channel: signatures and reading the answer. WeCom and DingTalk answer
//! errors inside an HTTP 200 (`errcode` != 0), Feishu with `code` != 0; Slack answers `ok`.

use super::Kind;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC takes keys of any length; this cannot happen.
        HmacSha256::new_from_slice(b"").unwrap_or_else(|_| unreachable!())
    });
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// DingTalk: base64 of HMAC-SHA256 keyed by the secret over `timestamp + "\n" + secret`
/// (URL-encoded by the caller when it goes into the query).
pub fn dingtalk_sign(timestamp_ms: u64, secret: &str) -> String {
    let text = format!("{timestamp_ms}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac(secret.as_bytes(), text.as_bytes()))
}

/// Feishu/Lark: base64 of HMAC-SHA256 keyed by `timestamp + "\n" + secret` over nothing.
pub fn feishu_sign(timestamp_s: u64, secret: &str) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    base64::engine::general_purpose::STANDARD.encode(hmac(key.as_bytes(), b""))
}

/// POST `body` to `url`; one retry (after the shared policy's backoff) when the request did
/// not get an answer or the receiver asked to slow down (429). A message is not idempotent, so
/// it is tried at most twice.
pub async fn deliver(
    client: &reqwest::Client,
    kind: Kind,
    url: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<(), String> {
    let policy = crate::retry::RetryPolicy::with_retries(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let again = attempt <= policy.retries;
        match client.post(url).json(body).send().await {
            Ok(resp) if resp.status().as_u16() == 429 && again => {
                let ra = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::retry::parse_retry_after)
                    .filter(|ra| *ra <= policy.max_retry_after);
                tracing::debug!(channel = ?kind, "HTTP 429; retrying once");
                tokio::time::sleep(policy.delay(attempt, ra)).await;
            }
            Ok(resp) => return answer(kind, resp).await,
            Err(e) if again && (e.is_connect() || e.is_timeout() || e.is_request()) => {
                tracing::debug!(channel = ?kind, "no answer ({}); retrying once", e.without_url());
                tokio::time::sleep(policy.delay(attempt, None)).await;
            }
            Err(e) if e.is_timeout() => {
                return Err(format!("no answer within {}s", timeout.as_secs()))
            }
            Err(e) => return Err(e.without_url().to_string()),
        }
    }
}

async fn answer(kind: Kind, resp: reqwest::Response) -> Result<(), String> {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let short: String = text.trim().chars().take(200).collect();
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}: {short}"));
    }
    let json = serde_json::from_str::<serde_json::Value>(&text).ok();
    let code_of = |keys: &[&str]| {
        json.as_ref()
            .and_then(|j| keys.iter().find_map(|k| j.get(*k).and_then(|v| v.as_i64())))
    };
    let message_of = |keys: &[&str]| {
        json.as_ref()
            .and_then(|j| keys.iter().find_map(|k| j.get(*k).and_then(|v| v.as_str())))
            .unwrap_or("")
            .to_string()
    };
    match kind {
        Kind::Wecom | Kind::Dingtalk => match code_of(&["errcode"]) {
            Some(0) => Ok(()),
            Some(code) => Err(format!("errcode {code}: {}", message_of(&["errmsg"]))),
            None => Err(format!("unexpected answer: {short}")),
        },
        Kind::Feishu => match code_of(&["code", "StatusCode"]) {
            Some(0) => Ok(()),
            Some(code) => Err(format!(
                "code {code}: {}",
                message_of(&["msg", "StatusMessage"])
            )),
            None => Err(format!("unexpected answer: {short}")),
        },
        Kind::Slack | Kind::Webhook => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_documented_examples() {
        // Computed independently with Python: base64(hmac.new(key, msg, sha256).digest()).
        assert_eq!(
            dingtalk_sign(1_700_000_000_000, "SECabc"),
            "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM="
        );
        assert_eq!(
            feishu_sign(1_700_000_000, "abc"),
            "VIS10b0EBvzzSdFnuk4tznEmK5wHaruvf/WnViv2yR4="
        );
    }
}
