//! File I/O for the command line: bounded reads with clear errors, atomic writes.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Default largest input file, in bytes (`--max-input-bytes`).
pub const DEFAULT_MAX_INPUT: u64 = 1 << 30;

/// An error of the command line: exit code 2, one line on stderr.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError { message: message.into() }
    }
    /// An error about `path` (`path: message`).
    pub fn file(path: &Path, message: impl fmt::Display) -> Self {
        CliError { message: format!("{}: {message}", path.display()) }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Why a bounded read failed; `Display` is the reason as the command line words it (after
/// `FILE: `).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The operating system's refusal (missing, permission, …), as [`io_reason`] words it.
    Io(String),
    Directory,
    /// The file's size (from its metadata) is above the limit.
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// The file grew past the limit while read.
    GrewPastLimit {
        limit: u64,
    },
    Empty,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(m) => f.write_str(m),
            ReadError::Directory => f.write_str("is a directory, expected a file"),
            ReadError::TooLarge { size, limit } => {
                write!(f, "file of {size} bytes exceeds the input limit of {limit} bytes")
            }
            ReadError::GrewPastLimit { limit } => write!(f, "file exceeds the input limit of {limit} bytes"),
            ReadError::Empty => f.write_str("1:1: empty file"),
        }
    }
}

/// Reads a whole file, refusing directories, missing files and files above `max_bytes` (without
/// reading them: memory stays bounded).
pub fn read_file(path: &Path, max_bytes: u64) -> CliResult<Vec<u8>> {
    read_bounded(path, max_bytes).map_err(|e| CliError::file(path, e))
}

/// [`read_file`] with a typed error (for callers that keep the path and the reason apart).
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    let io = |e: std::io::Error| ReadError::Io(io_reason(&e));
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if meta.len() > max_bytes {
        return Err(ReadError::TooLarge { size: meta.len(), limit: max_bytes });
    }
    let f = std::fs::File::open(path).map_err(io)?;
    let mut buf = Vec::with_capacity(meta.len() as usize);
    // Take one byte more than allowed so that a file growing while read is still caught.
    f.take(max_bytes + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > max_bytes {
        return Err(ReadError::GrewPastLimit { limit: max_bytes });
    }
    if buf.is_empty() {
        return Err(ReadError::Empty);
    }
    Ok(buf)
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Writes `content` to `path` atomically: a temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, content: &[u8]) -> CliResult<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| CliError::file(path, "not a file name"))?;
    let tmp: PathBuf = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::file(path, format!("cannot write: {}", io_reason(&e))));
    }
    Ok(())
}

/// Writes to stdout, treating a closed pipe as success.
pub fn print_stdout(s: &str) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::new(format!("stdout: {e}"))),
    }
}
