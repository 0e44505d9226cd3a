//! Error location: line and column of a byte offset, counted by reading the input again up to
//! it (errors are rare; the common path counts no lines).

use crate::source::Source;
use cpufleet_engine::Pos;

/// Line and column of byte `offset`, as [`Pos::locate`] computes them on the whole document
/// (columns count characters: bytes that do not continue a UTF-8 sequence).
pub fn locate<S: Source + ?Sized>(src: &S, offset: u64) -> std::io::Result<Pos> {
    let mut line = 1u32;
    let mut col_chars = 0u64;
    let mut at = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while at < offset {
        let want = (buf.len() as u64).min(offset - at) as usize;
        let n = src.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        let part = &buf[..n];
        match memchr::memrchr(b'\n', part) {
            Some(last) => {
                line += memchr::memchr_iter(b'\n', part).count() as u32;
                col_chars = chars(&part[last + 1..]);
            }
            None => col_chars += chars(part),
        }
        at += n as u64;
    }
    Ok(Pos { line, col: col_chars as u32 + 1, offset: offset as usize })
}

fn chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&x| (x & 0xC0) != 0x80).count() as u64
}
