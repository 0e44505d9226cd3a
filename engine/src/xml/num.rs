//! Number parsing as libvirt's `virStrToLong_*` helpers do it, without their leniencies.

/// Unsigned decimal (`virXMLPropUInt(..., 10, ...)`).
pub fn parse_u32_dec(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub fn parse_u64_dec(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// C notation (`strtoul(..., 0)`): `0x` hex, leading `0` octal, otherwise decimal.
pub fn parse_u32_c(s: &str) -> Option<u32> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// Hexadecimal with or without `0x` (ppc64 PVR values).
pub fn parse_u32_hex(s: &str) -> Option<u32> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn c_notation() {
        assert_eq!(parse_u32_c("0x1f"), Some(31));
        assert_eq!(parse_u32_c("010"), Some(8));
        assert_eq!(parse_u32_c("0"), Some(0));
        assert_eq!(parse_u32_c("12"), Some(12));
        assert_eq!(parse_u32_c("0x100000000"), None);
        assert_eq!(parse_u32_c("-1"), None);
        assert_eq!(parse_u32_c("0x"), None);
        assert_eq!(parse_u32_dec("4294967296"), None);
        assert_eq!(parse_u32_dec(" 1"), None);
    }
}
