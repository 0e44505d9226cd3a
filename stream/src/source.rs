//! The input: random access by positional reads ([`Source`]), over a file ([`FileSource`]) or
//! bytes in memory (tests, benches), and [`fill`], which reads a range of it into a buffer.

/// Random access to the input: a file (positional reads) or bytes in memory (tests, benches).
pub trait Source: Sync {
    /// Its length when the read starts.
    fn size(&self) -> u64;
    /// Reads at `offset` into `buf`; returns the bytes read (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let start = (offset.min(self.len() as u64)) as usize;
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A file and the length its metadata gave.
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

impl FileSource {
    pub fn new(file: std::fs::File, len: u64) -> Self {
        FileSource { file, len }
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
    }
    #[cfg(windows)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(&self.file, buf, offset)
    }
}

/// Fills `buf[from..to]` from `src` at `offset + from`; returns the new length of valid bytes
/// (short at the end of the input).
pub(crate) fn fill<S: Source + ?Sized>(
    src: &S,
    buf: &mut Vec<u8>,
    offset: u64,
    from: usize,
    to: usize,
) -> std::io::Result<usize> {
    if buf.len() < to {
        buf.resize(to, 0);
    }
    let mut at = from;
    while at < to {
        match src.read_at(&mut buf[at..to], offset + at as u64) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// Several files read as their concatenation, in order (`cpufleet baseline FILE…`). Each read
/// opens the file it falls in (never all files at once: inventories hold 10⁵ files).
pub struct ConcatSource {
    /// Each file and where it starts in the concatenation.
    parts: Vec<(std::path::PathBuf, u64)>,
    len: u64,
}

impl ConcatSource {
    /// The files with the lengths their metadata gave.
    pub fn new(files: impl IntoIterator<Item = (std::path::PathBuf, u64)>) -> Self {
        let mut parts = Vec::new();
        let mut len = 0u64;
        for (path, n) in files {
            parts.push((path, len));
            len += n;
        }
        ConcatSource { parts, len }
    }
}

impl Source for ConcatSource {
    fn size(&self) -> u64 {
        self.len
    }
    /// Reads within the one file that holds `offset` (a short read at its end; `fill` goes
    /// on with the next file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let i = self.parts.partition_point(|&(_, start)| start <= offset) - 1;
        let end = self.parts.get(i + 1).map_or(self.len, |&(_, s)| s);
        let (path, start) = &self.parts[i];
        let want = ((end - offset) as usize).min(buf.len());
        let file = FileSource::new(std::fs::File::open(path)?, end - start);
        let mut at = 0;
        while at < want {
            match file.read_at(&mut buf[at..want], offset - start + at as u64)? {
                0 => break,
                n => at += n,
            }
        }
        Ok(at)
    }
}
