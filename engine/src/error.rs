//! Typed errors. Every error that comes from input carries a location a user can act on.

use std::fmt;

/// A position in an input document (1-based line and column, 0-based byte offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    pub offset: usize,
}

impl Pos {
    /// Computes line and column of `offset` in `text` (columns count characters).
    pub fn locate(text: &[u8], offset: usize) -> Pos {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let col = String::from_utf8_lossy(&before[line_start..]).chars().count() as u32 + 1;
        Pos { line, col, offset }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// An error reading an XML document (CPU, CPUID data, CPU map, capabilities ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlError {
    pub pos: Pos,
    /// The element the problem is in (empty when not inside one).
    pub element: String,
    pub kind: XmlErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XmlErrorKind {
    /// The bytes are not well-formed XML (quick-xml's message).
    Syntax(String),
    InvalidUtf8,
    /// A character XML forbids (NUL and most C0 controls).
    ForbiddenChar(u32),
    /// `<!DOCTYPE ...>`: DTDs and entities are never processed.
    DtdNotAllowed,
    /// An entity reference other than the five predefined ones and character references.
    UnknownEntity(String),
    TooLarge {
        what: &'static str,
        limit: usize,
    },
    TooDeep {
        limit: usize,
    },
    TooMany {
        what: &'static str,
        limit: usize,
    },
    UnexpectedRoot {
        found: String,
        expected: &'static str,
    },
    MissingElement(&'static str),
    MissingAttribute(&'static str),
    /// An attribute or text with a value that is not allowed.
    InvalidValue {
        attribute: String,
        value: String,
        expected: &'static str,
    },
    DuplicateAttribute(String),
    DuplicateFeature(String),
    EmptyFeatureName,
    /// A semantic rule of libvirt's parser (e.g. "Missing CPU architecture").
    Invalid(String),
    Empty,
}

impl fmt::Display for XmlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use XmlErrorKind::*;
        match self {
            Syntax(m) => write!(f, "malformed XML: {m}"),
            InvalidUtf8 => write!(f, "invalid UTF-8"),
            ForbiddenChar(c) => write!(f, "character U+{c:04X} is not allowed in XML"),
            DtdNotAllowed => write!(f, "DTD (<!DOCTYPE>) is not allowed; entities are never expanded"),
            UnknownEntity(e) => write!(f, "unknown entity reference '&{e};'"),
            TooLarge { what, limit } => write!(f, "{what} exceeds the limit of {limit} bytes"),
            TooDeep { limit } => write!(f, "elements nested deeper than {limit} levels"),
            TooMany { what, limit } => write!(f, "more than {limit} {what}"),
            UnexpectedRoot { found, expected } => {
                write!(f, "unexpected root element <{found}>, expected {expected}")
            }
            MissingElement(e) => write!(f, "missing element <{e}>"),
            MissingAttribute(a) => write!(f, "missing attribute '{a}'"),
            InvalidValue { attribute, value, expected } => {
                write!(f, "invalid value '{value}' for '{attribute}', expected {expected}")
            }
            DuplicateAttribute(a) => write!(f, "duplicate attribute '{a}'"),
            DuplicateFeature(n) => write!(f, "CPU feature '{n}' specified more than once"),
            EmptyFeatureName => write!(f, "feature with an empty name"),
            Invalid(m) => write!(f, "{m}"),
            Empty => write!(f, "empty document"),
        }
    }
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.element.is_empty() {
            write!(f, "{}: {}", self.pos, self.kind)
        } else {
            write!(f, "{}: in <{}>: {}", self.pos, self.element, self.kind)
        }
    }
}

impl std::error::Error for XmlError {}

/// An error from a CPU operation (decode, compare, baseline, update, translate ...).
/// The message mirrors libvirt's where libvirt has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuError {
    UnknownModel(String),
    UnknownFeature(String),
    UnknownVendor(String),
    NoModel(&'static str),
    NoCpus,
    /// CPU at `index` (0-based) of a baseline input has no model.
    NoModelAt(usize),
    VendorsMismatch {
        expected: String,
        found: String,
    },
    ModelVendorMismatch {
        cpu: String,
        model_vendor: String,
        index: usize,
    },
    IncompatibleCpus(String),
    NoCandidate,
    UnsupportedArch(String),
    ArchMismatch(String),
    Unsupported(String),
    Invalid(String),
}

impl fmt::Display for CpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CpuError::*;
        match self {
            UnknownModel(m) => write!(f, "Unknown CPU model {m}"),
            UnknownFeature(n) => write!(f, "unknown CPU feature {n}"),
            UnknownVendor(v) => write!(f, "Unknown CPU vendor {v}"),
            NoModel(what) => write!(f, "no CPU model specified ({what})"),
            NoCpus => write!(f, "no CPUs given"),
            NoModelAt(i) => write!(f, "no CPU model specified at index {i}"),
            VendorsMismatch { expected, found } => {
                write!(f, "CPU vendors do not match: {expected} vs {found}")
            }
            ModelVendorMismatch { cpu, model_vendor, index } => {
                write!(f, "CPU vendor {cpu} of model at index {index} differs from vendor {model_vendor} of its model")
            }
            IncompatibleCpus(m) => write!(f, "CPUs are incompatible: {m}"),
            NoCandidate => write!(f, "cannot find suitable CPU model for given data"),
            UnsupportedArch(a) => write!(f, "CPU architecture '{a}' is not supported"),
            ArchMismatch(m) => write!(f, "CPU architectures do not match: {m}"),
            Unsupported(m) => write!(f, "{m}"),
            Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for CpuError {}

/// An error loading a CPU map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapError {
    /// A map file could not be parsed.
    Xml {
        file: String,
        error: Box<XmlError>,
    },
    /// `index.xml` includes a file the caller did not provide.
    MissingFile {
        file: String,
    },
    Duplicate {
        file: String,
        what: &'static str,
        name: String,
    },
    Unknown {
        file: String,
        what: &'static str,
        name: String,
    },
    Invalid {
        file: String,
        message: String,
    },
    TooManyFeatures {
        limit: usize,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MapError::*;
        match self {
            Xml { file, error } => write!(f, "{file}:{error}"),
            MissingFile { file } => write!(f, "CPU map file '{file}' is included but missing"),
            Duplicate { file, what, name } => write!(f, "{file}: {what} '{name}' already defined"),
            Unknown { file, what, name } => write!(f, "{file}: unknown {what} '{name}'"),
            Invalid { file, message } => write!(f, "{file}: {message}"),
            TooManyFeatures { limit } => {
                write!(f, "CPU map defines more than {limit} features for one architecture")
            }
        }
    }
}

impl std::error::Error for MapError {}
