//! Number parsing exactly as libvirt's `virStrToLong_*` helpers do it (strtoul rules).

fn strip_hex(t: &str) -> Option<&str> {
    t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"))
}

/// `strtoul(s, &end, base)` the way libvirt's `virStrToLong_uip` / `virStrToLong_ullp` use it:
/// leading white space and one `+` are accepted, a `-` is not, base 0 means C notation (`0x` hex,
/// leading `0` octal), base 16 accepts an optional `0x`, and the whole string must be consumed.
pub fn strtoul(s: &str, base: u32) -> Option<u64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let t = t.strip_prefix('+').unwrap_or(t);
    let (digits, radix) = match base {
        0 => match strip_hex(t) {
            Some(h) => (h, 16),
            None if t.len() > 1 && t.starts_with('0') => (&t[1..], 8),
            None => (t, 10),
        },
        16 => (strip_hex(t).unwrap_or(t), 16),
        b => (t, b),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Unsigned decimal below 2^32 (`virXMLPropUInt(..., 10, ...)`).
pub fn parse_u32_dec(s: &str) -> Option<u32> {
    strtoul(s, 10).and_then(|v| u32::try_from(v).ok())
}

/// Unsigned decimal below 2^64 (`virXMLPropULongLong(..., 10, ...)`).
pub fn parse_u64_dec(s: &str) -> Option<u64> {
    strtoul(s, 10)
}

/// C notation below 2^32 (`virXMLPropUInt(..., 0, ...)`): `0x` hex, leading `0` octal, else decimal.
pub fn parse_u32_c(s: &str) -> Option<u32> {
    strtoul(s, 0).and_then(|v| u32::try_from(v).ok())
}

/// Hexadecimal with or without `0x` (ppc64 PVR values, `virXPathULongHex`).
pub fn parse_u32_hex(s: &str) -> Option<u32> {
    strtoul(s, 16).and_then(|v| u32::try_from(v).ok())
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
        // libvirt's strtoul leniency: leading white space and '+', never '-' or trailing text.
        assert_eq!(parse_u32_dec(" 1"), Some(1));
        assert_eq!(parse_u32_dec("+1"), Some(1));
        assert_eq!(parse_u32_dec("-1"), None);
        assert_eq!(parse_u32_dec("1 "), None);
        assert_eq!(parse_u32_dec("+"), None);
        assert_eq!(parse_u32_hex("0x004b0000"), Some(0x4b0000));
        assert_eq!(parse_u32_hex("004b0000"), Some(0x4b0000));
        assert_eq!(parse_u32_c("08"), None);
    }
}
