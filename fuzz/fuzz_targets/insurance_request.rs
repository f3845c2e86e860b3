//! The insurance center's request parsing: any body through `InsuranceCenter::call` (envelope,
//! input, every transaction's fields), and any headers and body through the gateway. Neither may
//! panic; the center always answers with the platform's envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wugan_insurance::auth::{sign, SignedParts};
use wugan_insurance::{default_policy, sample_persons, CallerCredential, Gateway, GatewayConfig, InsuranceCenter, InsuranceConfig};

static CENTER: OnceLock<InsuranceCenter> = OnceLock::new();
static GATEWAY: OnceLock<Gateway> = OnceLock::new();

fn center() -> &'static InsuranceCenter {
    CENTER.get_or_init(|| {
        let config = InsuranceConfig { admdvs: "440300".into(), policy: default_policy(), persons: sample_persons() };
        InsuranceCenter::new(config).expect("the center starts")
    })
}

fn gateway() -> &'static Gateway {
    GATEWAY.get_or_init(|| {
        let caller = CallerCredential { fixmedins_code: "H1".into(), app_id: "app-h1".into(), secret: "s1".into() };
        Gateway::new(GatewayConfig { callers: vec![caller], operator_token: "op".into() }).expect("valid")
    })
}

/// An in-memory center waits on nothing: the call completes at its first poll.
fn call(body: &[u8]) -> serde_json::Value {
    use std::future::Future;
    let mut call = std::pin::pin!(center().call(body));
    match call.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(reply) => reply.expect("an in-memory center records nothing"),
        std::task::Poll::Pending => panic!("an in-memory center answers at once"),
    }
}

fuzz_target!(|data: &[u8]| {
    let reply = call(data);
    assert!(reply["infcode"].is_i64(), "every answer is an envelope: {reply}");
    assert!(reply["inf_refmsgid"].is_string());

    // Headers and body for the gateway: fields separated by 0xFF, the rest is the body.
    let mut parts = data.splitn(5, |b| *b == 0xFF);
    let mut field = || parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let (app_id, timestamp, nonce, signature) = (field(), field(), field(), field());
    let body = field().unwrap_or_default();
    let signed = SignedParts {
        app_id: app_id.as_deref(),
        timestamp: timestamp.as_deref(),
        nonce: nonce.as_deref(),
        signature: signature.as_deref(),
    };
    let _ = gateway().check(&signed, body.as_bytes(), Some("H1"));
    // A request signed with the right key always passes once (fresh nonces come from the input).
    let now = time_now();
    let nonce = format!("fz-{}", hex(data));
    if nonce.len() <= 128 {
        let signature = sign("s1", "app-h1", now, &nonce, body.as_bytes());
        let good =
            SignedParts { app_id: Some("app-h1"), timestamp: Some(&now.to_string()), nonce: Some(&nonce), signature: Some(&signature) };
        let first = gateway().check(&good, body.as_bytes(), Some("H1")).map(|c| c.app_id.clone());
        assert!(first.is_ok() || first == Err(wugan_insurance::auth::Refusal::ReplayedNonce), "{first:?}");
    }
});

fn time_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(48).map(|b| format!("{b:02x}")).collect()
}
