//! Belgian national register numbers (Rijksregisternummer / numéro de registre national, BIS
//! numbers) and Belgian eID card numbers.
//!
//! Rules from IBZ IT000/IT195 as implemented by python-stdnum (`stdnum/be/nn.py`, `bis.py`,
//! `eid.py`); see `shared/reference/itsme-signicat.md` §4.

/// What a valid national number says about its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NationalNumber {
    /// Full year of birth (1900s or 2000s), when the number encodes one.
    pub birth_year: i32,
    /// `true` for a BIS number (month + 20 or + 40): someone not in the National Register.
    pub is_bis: bool,
}

/// Checks an 11-digit national number with the mod-97 rule, trying the 1900s first and then the
/// 2000s (a `2` prefixed to the first nine digits), the latter only when the year is not in the
/// future. Returns what the number encodes, or `None` when it is not valid.
pub fn parse_national_number(nn: &str, current_year: i32) -> Option<NationalNumber> {
    if nn.len() != 11 || !nn.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let first9: u64 = nn[..9].parse().ok()?;
    let check: u64 = nn[9..].parse().ok()?;
    let yy: i32 = nn[..2].parse().ok()?;
    let mm: u32 = nn[2..4].parse().ok()?;
    let dd: u32 = nn[4..6].parse().ok()?;
    let (is_bis, month) = match mm {
        0..=12 => (false, mm),
        20..=32 => (true, mm - 20),
        40..=52 => (true, mm - 40),
        _ => return None,
    };
    // Month 00 / day 00 mean "unknown"; otherwise the day must fit the month.
    if month != 0 && dd > 31 {
        return None;
    }
    let rule = |n: u64| {
        let r = 97 - (n % 97);
        r == check
    };
    if rule(first9) {
        return Some(NationalNumber {
            birth_year: 1900 + yy,
            is_bis,
        });
    }
    if 2000 + yy <= current_year && rule(2_000_000_000 + first9) {
        return Some(NationalNumber {
            birth_year: 2000 + yy,
            is_bis,
        });
    }
    None
}

/// Checks a Belgian eID card number: 12 digits (dashes and spaces allowed), the last two being
/// the first ten modulo 97, or 97 when that is 0.
pub fn is_valid_eid_card_number(number: &str) -> bool {
    let digits: String = number
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '.'))
        .collect();
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (Ok(first10), Ok(check)) = (digits[..10].parse::<u64>(), digits[10..].parse::<u64>())
    else {
        return false;
    };
    let expected = match first10 % 97 {
        0 => 97,
        r => r,
    };
    expected == check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_examples_from_the_reference() {
        assert_eq!(
            parse_national_number("85073003328", 2026),
            Some(NationalNumber {
                birth_year: 1985,
                is_bis: false
            })
        );
        assert_eq!(
            parse_national_number("17073003384", 2026),
            Some(NationalNumber {
                birth_year: 2017,
                is_bis: false
            })
        );
        assert_eq!(parse_national_number("17073003384", 2016), None);
        assert!(parse_national_number("42501093792", 2026).is_some_and(|n| n.is_bis));
        assert_eq!(parse_national_number("85073003329", 2026), None);
        assert_eq!(parse_national_number("8507300332", 2026), None);
        assert_eq!(parse_national_number("8507300332a", 2026), None);
    }

    #[test]
    fn eid_card_numbers() {
        assert!(is_valid_eid_card_number("591-1917064-58"));
        assert!(is_valid_eid_card_number("431522485012"));
        assert!(is_valid_eid_card_number("591-2010999-97"));
        assert!(!is_valid_eid_card_number("591-1917064-59"));
        assert!(!is_valid_eid_card_number("B 1234567 89"));
    }
}
