//! The booking-token decoder under hostile input: whatever a scanner delivers (up to 4 KB) it
//! never panics and never accepts anything but a token the key really signed.
//!
//! CI runs 100,000 cases; the longer run is `SPORTELLO_TOKEN_CASES=10000000 cargo test
//! --release --test token_fuzz` (docs/benchmarks.md records it).

use domain::token::{BookingClaims, TokenSigner, TokenVerifier};
use domain::{BookingId, PersonKey, SedeCode, ServiceLetter};
use proptest::prelude::*;

const BASE45: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

fn cases() -> u32 {
    std::env::var("SPORTELLO_TOKEN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn signer() -> TokenSigner {
    TokenSigner::from_seed(7, &[11; 32])
}

fn original() -> BookingClaims {
    BookingClaims {
        booking: BookingId::new(2026, 123).unwrap(),
        sede: SedeCode::parse("7001").unwrap(),
        starts_at: chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(10, 30, 0)
            .unwrap(),
        service: ServiceLetter::from_byte(b'A').unwrap(),
        person: PersonKey([1, 2, 3, 4, 5, 6, 7, 8]),
    }
}

/// Inputs: raw bytes; base45 text behind the right prefix; the valid token edited in a few
/// places; and binary payloads with the right version and a known key id, so the signature
/// check itself is attacked.
fn input() -> impl Strategy<Value = String> {
    let token = signer().sign(&original()).unwrap();
    let len = token.len();
    let alphabet: Vec<char> = BASE45.chars().collect();
    let edits = prop::collection::vec(
        (0..len, prop::sample::select(alphabet.clone()), 0u8..3),
        1..5,
    )
    .prop_map(move |edits| {
        let mut chars: Vec<char> = token.chars().collect();
        for (at, c, kind) in edits {
            let at = at.min(chars.len().saturating_sub(1));
            match kind {
                0 if !chars.is_empty() => chars[at] = c,
                1 => chars.insert(at, c),
                _ if !chars.is_empty() => {
                    chars.remove(at);
                }
                _ => {}
            }
        }
        chars.into_iter().collect()
    });
    let forged = (any::<[u8; 23]>(), prop::collection::vec(any::<u8>(), 64)).prop_map(
        |(rest, signature)| {
            let mut bytes = vec![1u8, 0, 7];
            bytes.extend_from_slice(&rest);
            bytes.extend_from_slice(&signature);
            format!("SP1:{}", base45::encode(&bytes))
        },
    );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        prop::collection::vec(prop::sample::select(alphabet), 0..4092)
            .prop_map(|c| format!("SP1:{}", c.into_iter().collect::<String>())),
        edits,
        forged,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_input_panics_or_passes_as_a_booking_it_is_not(text in input()) {
        let mut verifier = TokenVerifier::new();
        verifier.add_key(7, &signer().verifying_key()).unwrap();
        if let Ok(claims) = verifier.verify(&text) {
            // Only an edit that left the token itself (or only whitespace around it) passes.
            prop_assert_eq!(claims, original());
            prop_assert_eq!(text.trim(), signer().sign(&original()).unwrap());
        }
    }
}
