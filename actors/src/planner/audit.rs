//! The audit trail: one JSON line per query a planner accepts, on its log
//! (target `loupe::audit`) and on `loupe.v1.audit` (for admins and log
//! pipelines): who asked, when, what (the script's SHA-256, first line and
//! arguments, and the SHA-256 of the request the planner ran), which nodes
//! were asked, how many rows and bytes were answered, and the outcome.
//!
//! Who asked: core NATS does not tell a subscriber who published, so the
//! CLI signs each request with the NKey it authenticated to NATS with
//! (`Loupe-Signer`, `Loupe-Signature` headers). The planner verifies the
//! signature over the payload and names the key, with its role when the
//! key is one of `loupe auth init`'s (`users.json`). An unsigned or badly
//! signed request is still answered where NATS let it through (NATS's
//! permissions are the gate), and audited as such.

use std::collections::HashMap;

use async_nats::HeaderMap;
use loupe_topology::subjects::{SIGNATURE_HEADER, SIGNER_HEADER, Subject};
use serde_json::json;

/// Who sent a request, as far as its signature proves.
pub fn requester(
    headers: Option<&HeaderMap>,
    payload: &[u8],
    users: &HashMap<String, String>,
) -> serde_json::Value {
    let get = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_string())
    };
    let (Some(signer), Some(sig)) = (get(SIGNER_HEADER), get(SIGNATURE_HEADER)) else {
        return json!({"nkey": null, "role": null, "verified": false, "why": "unsigned"});
    };
    let bytes: Option<Vec<u8>> = (sig.len() == 128)
        .then(|| {
            (0..64)
                .map(|i| u8::from_str_radix(&sig[2 * i..2 * i + 2], 16).ok())
                .collect()
        })
        .flatten();
    let verified = bytes.is_some_and(|b| {
        nkeys::KeyPair::from_public_key(&signer).is_ok_and(|k| k.verify(payload, &b).is_ok())
    });
    // Only a key that signed is named as itself.
    let nkey: String = signer.chars().take(64).collect();
    json!({
        "nkey": nkey,
        "role": if verified { users.get(&signer).cloned() } else { None },
        "verified": verified,
        "why": if verified { "signature checked" } else { "bad signature" },
    })
}

/// The SHA-256 of a request, hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Logs the line and publishes it on `loupe.v1.audit`.
pub async fn record(client: &async_nats::Client, line: serde_json::Value) {
    let text = line.to_string();
    tracing::info!(target: "loupe::audit", "{text}");
    let _ = client
        .publish(String::from(Subject::audit()), text.into())
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_names_its_key_and_only_a_valid_one_is_believed() {
        let key = nkeys::KeyPair::new_user();
        let payload = b"a request";
        let sig: String = key
            .sign(payload)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut h = HeaderMap::new();
        h.insert(SIGNER_HEADER, key.public_key().as_str());
        h.insert(SIGNATURE_HEADER, sig.as_str());
        let users = HashMap::from([(key.public_key(), "reader".to_string())]);
        let r = requester(Some(&h), payload, &users);
        assert_eq!(r["verified"], true);
        assert_eq!(r["role"], "reader");
        // The same headers on another payload: not believed.
        let r = requester(Some(&h), b"another request", &users);
        assert_eq!(r["verified"], false);
        assert_eq!(r["role"], serde_json::Value::Null);
        assert_eq!(requester(None, payload, &users)["why"], "unsigned");
    }
}
