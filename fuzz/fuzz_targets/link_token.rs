//! Signed listen links: any token a visitor puts in `/listen/<token>`. Only tokens this
//! signer made verify, and they verify to what was signed.
#![no_main]

use hark_core::link::{LinkSigner, ListenClaim};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signer = LinkSigner::new(b"0123456789abcdef0123456789abcdef");
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
    let token = String::from_utf8_lossy(data);
    if let Ok(claim) = signer.verify(&token, now) {
        // Accepted: then it is exactly what signing that claim gives.
        assert_eq!(signer.sign(&claim), token, "a token verified that we did not sign");
    }
    // And a genuine token with one byte changed never verifies.
    if let Some((&first, _)) = data.split_first() {
        let claim = ListenClaim {
            message_id: hark_core::ids::MessageId::from("m1"),
            recipient_id: hark_core::ids::UserId::from("u1"),
            expires_at: 1_900_000_000,
        };
        let mut good = signer.sign(&claim).into_bytes();
        let at = usize::from(first) % good.len();
        good[at] ^= 0x01 | (first & 0x7e);
        if let Ok(s) = String::from_utf8(good) {
            if let Ok(c) = signer.verify(&s, now) {
                assert_eq!(signer.sign(&c), s, "a changed token verified");
            }
        }
    }
});
