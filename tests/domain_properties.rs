//! Property tests of the identifier parsers and the booking token.

use chrono::NaiveDate;
use domain::token::{BookingClaims, TokenError, TokenSigner, TokenVerifier};
use domain::{
    BookingId, CfError, CodiceFiscale, Matricola, PartitaIva, PersonKey, PersonalCf, PivaError,
    SedeCode, ServiceLetter,
};
use proptest::prelude::*;

const MONTHS: &[u8] = b"ABCDEHLMPRST";
const OMOCODIA: &[u8] = b"LMNPQRSTUV";
const OMOCODIA_POSITIONS: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];

prop_compose! {
    /// The first 15 characters of a valid personal code, any sex, real dates only.
    fn first15()(
        letters in "[A-Z]{6}",
        year in 0u8..100,
        month in 0usize..12,
        day in 1u8..=28,
        female in any::<bool>(),
        place in "[A-Z][0-9]{3}",
    ) -> String {
        let day = if female { day + 40 } else { day };
        format!("{letters}{year:02}{}{day:02}{place}", MONTHS[month] as char)
    }
}

fn omocode(code: &str, mask: u8) -> String {
    let mut bytes = code.as_bytes()[..15].to_vec();
    for (bit, &i) in OMOCODIA_POSITIONS.iter().enumerate() {
        if mask & (1 << bit) != 0 {
            bytes[i] = OMOCODIA[usize::from(bytes[i] - b'0')];
        }
    }
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #[test]
    fn every_generated_personal_code_parses(first in first15()) {
        let cf = PersonalCf::from_first15(&first).unwrap();
        prop_assert_eq!(&cf.as_str()[..15], first.as_str());
        let reparsed = PersonalCf::parse(cf.as_str()).unwrap();
        prop_assert_eq!(reparsed.as_str(), cf.as_str());
        prop_assert!(CodiceFiscale::parse(&cf.as_str().to_lowercase()).is_ok());
    }

    #[test]
    fn every_wrong_check_character_is_refused(first in first15(), other in 0u8..26) {
        let cf = PersonalCf::from_first15(&first).unwrap();
        let right = cf.as_str().as_bytes()[15];
        let wrong = b'A' + other;
        prop_assume!(wrong != right);
        let typed = format!("{first}{}", wrong as char);
        let refused = matches!(
            PersonalCf::parse(&typed),
            Err(CfError::CheckCharMismatch { expected, found })
                if expected == right as char && found == wrong as char
        );
        prop_assert!(refused);
    }

    #[test]
    fn omocodia_variants_compare_equal(first in first15(), mask in 1u8..128) {
        let base = PersonalCf::from_first15(&first).unwrap();
        let variant = PersonalCf::from_first15(&omocode(base.as_str(), mask)).unwrap();
        prop_assert!(variant.is_omocode());
        prop_assert_eq!(variant, base);
        prop_assert_eq!(variant.birth(), base.birth());
        let variant_base = variant.base();
        prop_assert_eq!(variant_base.as_str(), base.as_str());
        let (a, b) = (CodiceFiscale::Personal(variant), CodiceFiscale::Personal(base));
        prop_assert_eq!(a.canonical(), b.canonical());
    }

    #[test]
    fn every_generated_partita_iva_parses_and_every_typo_is_caught(
        progressive in 1u32..8_000_000,
        office in prop::sample::select(vec![1u16, 17, 58, 96, 100, 120, 121, 888, 999]),
        position in 0usize..11,
        delta in 1u8..10,
    ) {
        let piva = PartitaIva::from_parts(progressive, office).unwrap();
        prop_assert_eq!(PartitaIva::parse(&format!("IT {piva}")).unwrap(), piva);
        // Luhn catches every single-digit substitution, wherever it is.
        let mut digits = piva.as_str().as_bytes().to_vec();
        digits[position] = b'0' + (digits[position] - b'0' + delta) % 10;
        let typo = String::from_utf8(digits).unwrap();
        prop_assert!(PartitaIva::parse(&typo).is_err());
        if position == 10 {
            let is_mismatch = matches!(
                PartitaIva::parse(&typo),
                Err(PivaError::CheckDigitMismatch { .. })
            );
            prop_assert!(is_mismatch);
        }
    }

    #[test]
    fn synthetic_matricole_parse(province in 1u8..=94, progressive in 0u32..1_000_000) {
        let m = Matricola::synthetic(province, progressive).unwrap();
        prop_assert_eq!(Matricola::parse(m.as_str()).unwrap(), m);
        prop_assert!(m.is_synthetic());
    }

    #[test]
    fn parsers_never_panic(input in "\\PC{0,24}") {
        let _ = CodiceFiscale::parse(&input);
        let _ = PartitaIva::parse(&input);
        let _ = Matricola::parse(&input);
        let _ = SedeCode::parse(&input);
        let _ = BookingId::parse(&input);
        let _ = TokenVerifier::new().verify(&input);
    }
}

prop_compose! {
    fn claims()(
        year in 2020u16..2100,
        progressive in 1u32..1_000_000,
        sede in prop::sample::select(vec!["7001", "5105", "8103", "0100"]),
        day in 0u32..3650,
        minute in 0u32..1440,
        letter in 0u8..26,
        person in any::<[u8; 8]>(),
    ) -> BookingClaims {
        let date = NaiveDate::from_ymd_opt(2021, 1, 1).unwrap() + chrono::Days::new(day.into());
        BookingClaims {
            booking: BookingId::new(year, progressive).unwrap(),
            sede: SedeCode::parse(sede).unwrap(),
            starts_at: date.and_hms_opt(minute / 60, minute % 60, 0).unwrap(),
            service: ServiceLetter::from_byte(b'A' + letter).unwrap(),
            person: PersonKey(person),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn tokens_round_trip_and_every_one_bit_flip_is_refused(c in claims(), seed in any::<[u8; 32]>()) {
        let signer = TokenSigner::from_seed(3, &seed);
        let mut verifier = TokenVerifier::new();
        verifier.add_key(3, &signer.verifying_key()).unwrap();
        // A second key, so a flip in the key id can land on a key the kiosk knows.
        verifier.add_key(2, &TokenSigner::from_seed(2, &[5; 32]).verifying_key()).unwrap();
        let token = signer.sign(&c).unwrap();
        prop_assert_eq!(verifier.verify(&token).unwrap(), c);
        let bytes = base45::decode(token.strip_prefix("SP1:").unwrap()).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let result = verifier.verify_bytes(&flipped);
            prop_assert!(result.is_err(), "bit {} accepted", bit);
            let text = format!("SP1:{}", base45::encode(&flipped));
            let refused_as_expected = matches!(
                verifier.verify(&text),
                Err(TokenError::BadSignature | TokenError::UnknownKey(_) | TokenError::UnsupportedVersion(_))
            );
            prop_assert!(refused_as_expected, "bit {}", bit);
        }
    }
}
